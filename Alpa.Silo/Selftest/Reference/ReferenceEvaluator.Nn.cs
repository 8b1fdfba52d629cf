using Alpa.Planner.Graph;

namespace Alpa.Silo.Selftest.Reference;

// Normalization, softmax, embedding, loss, convolution and pooling.
public static partial class ReferenceEvaluator
{
    // ── Softmax ───────────────────────────────────────────────────────────────────────────

    private static RefTensor Softmax(Node n, RefTensor x)
    {
        var v = n.Shape[-1];
        var outT = RefTensor.Zeros(n.Shape);
        for (long r = 0; r < x.Data.Length / v; r++)
        {
            var max = double.NegativeInfinity;
            for (long j = 0; j < v; j++) max = Math.Max(max, x.Data[r * v + j]);
            double sum = 0;
            for (long j = 0; j < v; j++) sum += Math.Exp(x.Data[r * v + j] - max);
            for (long j = 0; j < v; j++) outT.Data[r * v + j] = Math.Exp(x.Data[r * v + j] - max) / sum;
        }
        return outT;
    }

    private static RefTensor SoftmaxGrad(Node n, RefTensor y, RefTensor dy)
    {
        var v = n.Shape[-1];
        var dx = RefTensor.Zeros(n.Shape);
        for (long r = 0; r < y.Data.Length / v; r++)
        {
            double dot = 0;
            for (long j = 0; j < v; j++) dot += dy.Data[r * v + j] * y.Data[r * v + j];
            for (long j = 0; j < v; j++) dx.Data[r * v + j] = y.Data[r * v + j] * (dy.Data[r * v + j] - dot);
        }
        return dx;
    }

    // ── LayerNorm / BatchNorm: x̂ = (x − μ) / √(σ² + ε) over a group, y = γ·x̂ + β ───────────

    /// <summary>For each element: its statistics group and its γ/β index.</summary>
    private sealed record NormGroups(long[] Group, long[] Feature, long Count);

    /// <summary>LayerNorm: one group per row of the last axis; γ indexed by the last axis.</summary>
    private static NormGroups LayerNormGroups(Shape s)
    {
        var h = s[-1];
        var group = new long[s.Elements];
        var feature = new long[s.Elements];
        for (long i = 0; i < group.Length; i++) (group[i], feature[i]) = (i / h, i % h);
        return new NormGroups(group, feature, s.Elements / h);
    }

    /// <summary>BatchNorm over NHWC: one group per channel (statistics over N, H, W); γ indexed by channel.</summary>
    private static NormGroups BatchNormGroups(Shape s)
    {
        var c = s[3];
        var group = new long[s.Elements];
        for (long i = 0; i < group.Length; i++) group[i] = i % c;
        return new NormGroups(group, group, c);
    }

    /// <summary>x̂ and σ = √(var + ε) per group (biased variance).</summary>
    private static (double[] XHat, double[] Sigma, double[] Size) Standardize(RefTensor x, NormGroups g, double eps)
    {
        var sum = new double[g.Count];
        var size = new double[g.Count];
        for (long i = 0; i < x.Data.Length; i++) { sum[g.Group[i]] += x.Data[i]; size[g.Group[i]]++; }
        var mean = sum.Select((s, k) => s / size[k]).ToArray();
        var sq = new double[g.Count];
        for (long i = 0; i < x.Data.Length; i++) sq[g.Group[i]] += Math.Pow(x.Data[i] - mean[g.Group[i]], 2);
        var sigma = sq.Select((s, k) => Math.Sqrt(s / size[k] + eps)).ToArray();
        var xhat = new double[x.Data.Length];
        for (long i = 0; i < xhat.Length; i++) xhat[i] = (x.Data[i] - mean[g.Group[i]]) / sigma[g.Group[i]];
        return (xhat, sigma, size);
    }

    private static RefTensor Normalize(Node n, RefTensor x, RefTensor gamma, RefTensor beta, NormGroups g)
    {
        var (xhat, _, _) = Standardize(x, g, n.Attrs.Epsilon);
        var outT = RefTensor.Zeros(n.Shape);
        for (long i = 0; i < xhat.Length; i++) outT.Data[i] = gamma.Data[g.Feature[i]] * xhat[i] + beta.Data[g.Feature[i]];
        return outT;
    }

    /// <summary>dx = (1/σ)·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ, means over the group.</summary>
    private static RefTensor NormalizeGradInput(Node n, RefTensor x, RefTensor gamma, RefTensor dy, NormGroups g)
    {
        var (xhat, sigma, size) = Standardize(x, g, n.Attrs.Epsilon);
        var meanG = new double[g.Count];
        var meanGx = new double[g.Count];
        for (long i = 0; i < xhat.Length; i++)
        {
            var gi = dy.Data[i] * gamma.Data[g.Feature[i]];
            meanG[g.Group[i]] += gi / size[g.Group[i]];
            meanGx[g.Group[i]] += gi * xhat[i] / size[g.Group[i]];
        }
        var dx = RefTensor.Zeros(n.Shape);
        for (long i = 0; i < xhat.Length; i++)
        {
            var k = g.Group[i];
            var gi = dy.Data[i] * gamma.Data[g.Feature[i]];
            dx.Data[i] = (gi - meanG[k] - xhat[i] * meanGx[k]) / sigma[k];
        }
        return dx;
    }

    /// <summary>dγ[f] = Σ dy·x̂ over every element with feature f.</summary>
    private static RefTensor NormalizeGradGamma(Node n, RefTensor x, RefTensor dy, NormGroups g)
    {
        var (xhat, _, _) = Standardize(x, g, n.Attrs.Epsilon);
        var dgamma = RefTensor.Zeros(n.Shape);
        for (long i = 0; i < xhat.Length; i++) dgamma.Data[g.Feature[i]] += dy.Data[i] * xhat[i];
        return dgamma;
    }

    // ── Embedding and cross-entropy ───────────────────────────────────────────────────────

    private static long Index(double v, long bound, string what)
    {
        var i = (long)v;
        if (i != v || i < 0 || i >= bound) throw new ArgumentException($"{what} {v} is not an integer in [0, {bound})");
        return i;
    }

    private static RefTensor Embedding(Node n, RefTensor table, RefTensor ids)
    {
        long v = table.Shape[0], h = table.Shape[1];
        var outT = RefTensor.Zeros(n.Shape);
        for (long t = 0; t < ids.Data.Length; t++)
        {
            var row = Index(ids.Data[t], v, "token id");
            for (long j = 0; j < h; j++) outT.Data[t * h + j] = table.Data[row * h + j];
        }
        return outT;
    }

    private static RefTensor EmbeddingGrad(Node n, RefTensor ids, RefTensor dy)
    {
        long v = n.Shape[0], h = n.Shape[1];
        var dtable = RefTensor.Zeros(n.Shape);
        for (long t = 0; t < ids.Data.Length; t++)
        {
            var row = Index(ids.Data[t], v, "token id");
            for (long j = 0; j < h; j++) dtable.Data[row * h + j] += dy.Data[t * h + j];
        }
        return dtable;
    }

    /// <summary>Mean over label positions of −log softmax(logits)[label].</summary>
    private static RefTensor CrossEntropy(RefTensor logits, RefTensor labels)
    {
        var v = logits.Shape[-1];
        double total = 0;
        for (long r = 0; r < labels.Data.Length; r++)
        {
            var label = Index(labels.Data[r], v, "label");
            var max = double.NegativeInfinity;
            for (long j = 0; j < v; j++) max = Math.Max(max, logits.Data[r * v + j]);
            double sum = 0;
            for (long j = 0; j < v; j++) sum += Math.Exp(logits.Data[r * v + j] - max);
            total += max + Math.Log(sum) - logits.Data[r * v + label];
        }
        return RefTensor.Scalar(total / labels.Data.Length);
    }

    /// <summary>dlogits = (softmax(logits) − onehot(label)) · dloss / count.</summary>
    private static RefTensor CrossEntropyGrad(RefTensor logits, RefTensor labels, RefTensor dloss)
    {
        var v = logits.Shape[-1];
        var count = (double)labels.Data.Length;
        var dx = RefTensor.Zeros(logits.Shape);
        for (long r = 0; r < labels.Data.Length; r++)
        {
            var label = Index(labels.Data[r], v, "label");
            var max = double.NegativeInfinity;
            for (long j = 0; j < v; j++) max = Math.Max(max, logits.Data[r * v + j]);
            double sum = 0;
            for (long j = 0; j < v; j++) sum += Math.Exp(logits.Data[r * v + j] - max);
            for (long j = 0; j < v; j++)
            {
                var p = Math.Exp(logits.Data[r * v + j] - max) / sum;
                dx.Data[r * v + j] = (p - (j == label ? 1 : 0)) * dloss.Value / count;
            }
        }
        return dx;
    }

    // ── Convolution and pooling, NHWC; input row = o·stride + k − padding ──────────────────

    /// <summary>Calls <paramref name="visit"/>(input h, input w, kernel h, kernel w) for every in-range tap of output (oh, ow).</summary>
    private static void Taps(long h, long w, long kh, long kw, OpAttrs a, long oh, long ow, Action<long, long, long, long> visit)
    {
        for (long i = 0; i < kh; i++)
            for (long j = 0; j < kw; j++)
            {
                long ih = oh * a.Stride + i - a.Padding, iw = ow * a.Stride + j - a.Padding;
                if (ih >= 0 && ih < h && iw >= 0 && iw < w) visit(ih, iw, i, j);
            }
    }

    /// <summary>out[n,oh,ow,co] = Σ x[n,ih,iw,ci]·w[kh,kw,ci,co]: the one loop nest that conv and its gradients share.</summary>
    private static void ConvLoop(Shape xs, Shape ws, Shape ys, OpAttrs a, Action<long, long, long> mac)
    {
        long cin = ws[2], cout = ws[3];
        for (long n = 0; n < ys[0]; n++)
            for (long oh = 0; oh < ys[1]; oh++)
                for (long ow = 0; ow < ys[2]; ow++)
                    Taps(xs[1], xs[2], ws[0], ws[1], a, oh, ow, (ih, iw, i, j) =>
                    {
                        for (long ci = 0; ci < cin; ci++)
                            for (long co = 0; co < cout; co++)
                            {
                                var xi = ((n * xs[1] + ih) * xs[2] + iw) * cin + ci;
                                var wi = ((i * ws[1] + j) * cin + ci) * cout + co;
                                var yi = ((n * ys[1] + oh) * ys[2] + ow) * cout + co;
                                mac(xi, wi, yi);
                            }
                    });
    }

    private static RefTensor Conv2d(Node n, RefTensor x, RefTensor w)
    {
        var y = RefTensor.Zeros(n.Shape);
        ConvLoop(x.Shape, w.Shape, n.Shape, n.Attrs, (xi, wi, yi) => y.Data[yi] += x.Data[xi] * w.Data[wi]);
        return y;
    }

    private static RefTensor Conv2dGradInput(Node n, RefTensor dy, RefTensor w)
    {
        var dx = RefTensor.Zeros(n.Shape);
        ConvLoop(n.Shape, w.Shape, dy.Shape, n.Attrs, (xi, wi, yi) => dx.Data[xi] += dy.Data[yi] * w.Data[wi]);
        return dx;
    }

    private static RefTensor Conv2dGradWeight(Node n, RefTensor x, RefTensor dy)
    {
        var dw = RefTensor.Zeros(n.Shape);
        ConvLoop(x.Shape, n.Shape, dy.Shape, n.Attrs, (xi, wi, yi) => dw.Data[wi] += x.Data[xi] * dy.Data[yi]);
        return dw;
    }

    /// <summary>Visits every output (flat index) and its in-range window taps (flat input index), channel by channel.</summary>
    private static void PoolLoop(Shape xs, Shape ys, OpAttrs a, Action<long, List<long>> window)
    {
        var taps = new List<long>();
        for (long n = 0; n < ys[0]; n++)
            for (long oh = 0; oh < ys[1]; oh++)
                for (long ow = 0; ow < ys[2]; ow++)
                    for (long c = 0; c < ys[3]; c++)
                    {
                        taps.Clear();
                        Taps(xs[1], xs[2], a.Kernel, a.Kernel, a, oh, ow, (ih, iw, _, _) => taps.Add(((n * xs[1] + ih) * xs[2] + iw) * xs[3] + c));
                        window(((n * ys[1] + oh) * ys[2] + ow) * ys[3] + c, taps);
                    }
    }

    /// <summary>The first tap holding the window's maximum.</summary>
    private static long ArgMax(RefTensor x, List<long> taps)
    {
        if (taps.Count == 0) throw new ArgumentException("a max-pooling window lies entirely in the padding");
        var best = taps[0];
        foreach (var t in taps)
            if (x.Data[t] > x.Data[best]) best = t;
        return best;
    }

    private static RefTensor MaxPool(Node n, RefTensor x)
    {
        var y = RefTensor.Zeros(n.Shape);
        PoolLoop(x.Shape, n.Shape, n.Attrs, (o, taps) => y.Data[o] = x.Data[ArgMax(x, taps)]);
        return y;
    }

    private static RefTensor MaxPoolGrad(Node n, RefTensor x, RefTensor dy)
    {
        var dx = RefTensor.Zeros(n.Shape);
        var ys = new Shape(x.Shape[0], dy.Shape[1], dy.Shape[2], x.Shape[3]);
        PoolLoop(x.Shape, ys, n.Attrs, (o, taps) => dx.Data[ArgMax(x, taps)] += dy.Data[o]);
        return dx;
    }

    private static RefTensor AvgPool(Node n, RefTensor x)
    {
        var y = RefTensor.Zeros(n.Shape);
        double k2 = n.Attrs.Kernel * n.Attrs.Kernel;
        PoolLoop(x.Shape, n.Shape, n.Attrs, (o, taps) => y.Data[o] = taps.Sum(t => x.Data[t]) / k2);
        return y;
    }

    private static RefTensor AvgPoolGrad(Node n, RefTensor dy)
    {
        var dx = RefTensor.Zeros(n.Shape);
        double k2 = n.Attrs.Kernel * n.Attrs.Kernel;
        PoolLoop(n.Shape, dy.Shape, n.Attrs, (o, taps) =>
        {
            foreach (var t in taps) dx.Data[t] += dy.Data[o] / k2;
        });
        return dx;
    }
}
