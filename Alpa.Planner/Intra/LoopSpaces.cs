using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Intra;

/// <summary>The einsum view of each op kind (see <see cref="LoopSpace"/>).</summary>
internal static class LoopSpaces
{
    /// <summary>Batched matmul: labels batch…, m, n, k; k contracted [Alpa Table 3].</summary>
    public static LoopSpace MatMul(Node n)
    {
        var s = new LoopSpace();
        var a = n.Inputs[0].Shape;
        var b = n.Inputs[1].Shape;
        var batch = s.Labels(a.Take(a.Rank - 2));
        var tA = n.Attrs.TransA;
        var tB = n.Attrs.TransB;
        var m = s.Label(tA ? a[-1] : a[-2]);
        var k = s.Label(tA ? a[-2] : a[-1]);
        var nn = s.Label(tB ? b[-2] : b[-1]);
        int[] aDims = [.. batch, .. tA ? new[] { k, m } : [m, k]];
        int[] bTail = tB ? [nn, k] : [k, nn];
        int[] bDims = b.Rank > 2 ? [.. batch, .. bTail] : bTail;
        s.Inputs = [aDims, bDims];
        s.Output = [.. batch, m, nn];
        return s;
    }

    /// <summary>Element-wise ops with broadcasting; the last <paramref name="fixedTail"/> dims stay whole.</summary>
    public static LoopSpace Elementwise(Node n, int fixedTail)
    {
        var s = new LoopSpace();
        var outLabels = s.Labels(n.Shape);
        for (var i = Math.Max(0, outLabels.Length - fixedTail); i < outLabels.Length; i++) s.Fix(outLabels[i]);
        s.Inputs = [.. n.Inputs.Select(x => LoopSpace.Broadcast(x.Shape, n.Shape, outLabels))];
        s.Output = outLabels;
        return s;
    }

    /// <summary>LayerNorm and its input gradient: normalized (last) dim whole, gamma/beta replicated.</summary>
    public static LoopSpace LayerNorm(Node n)
    {
        var s = new LoopSpace();
        var labels = s.Labels(n.Shape);
        s.Fix(labels[^1]);
        s.Inputs = [.. n.Inputs.Select(x => x.Shape.Rank == n.Shape.Rank ? labels : new[] { labels[^1] })];
        s.Output = labels;
        return s;
    }

    /// <summary>Gamma gradient of a norm: sum over every dim but <paramref name="channel"/>.</summary>
    public static LoopSpace NormGradGamma(Node n, int channel)
    {
        var s = new LoopSpace();
        var x = n.Inputs[0].Shape;
        var labels = s.Labels(x);
        if (x.Rank == 4 && n.Op == OpKind.BatchNormGradGamma)
        {
            s.Fix(labels[1]);
            s.Fix(labels[2]);
        }
        s.Inputs = [labels, labels];
        s.Output = [labels[channel]];
        return s;
    }

    /// <summary>
    /// BatchNorm (NHWC) and its input gradient: N and C may be split; with N split the per-channel
    /// statistics (two values per channel) are all-reduced over N's axes.
    /// </summary>
    public static LoopSpace BatchNorm(Node n)
    {
        var s = new LoopSpace();
        var labels = s.Labels(n.Shape);
        s.Fix(labels[1]);
        s.Fix(labels[2]);
        s.Inputs = [.. n.Inputs.Select(x => x.Shape.Rank == 4 ? labels : new[] { labels[3] })];
        s.Output = labels;
        var dtypeSize = n.DType.Size();
        var channels = n.Shape[3];
        s.Extra = (mask, mesh) =>
        {
            var nAxes = mask[labels[0]];
            if (nAxes == 0) return [];
            var cParts = ShardingSpec.AxesProduct(mask[labels[3]], mesh);
            return [(CollectiveKind.AllReduce, nAxes, 2.0 * channels / cParts * dtypeSize)];
        };
        return s;
    }

    /// <summary>Embedding lookup: split ids (data), vocab rows (partial sums: all-reduce) or hidden.</summary>
    public static LoopSpace Embedding(Node n)
    {
        var s = new LoopSpace();
        var table = n.Inputs[0].Shape;
        var ids = s.Labels(n.Inputs[1].Shape);
        var v = s.Label(table[0]);
        var h = s.Label(table[1]);
        s.Inputs = [[v, h], ids];
        s.Output = [.. ids, h];
        return s;
    }

    /// <summary>Embedding gradient (scatter-add): split ids (partial sums), hidden, or vocab rows (each device keeps its rows).</summary>
    public static LoopSpace EmbeddingGrad(Node n)
    {
        var s = new LoopSpace();
        var ids = s.Labels(n.Inputs[0].Shape);
        var v = s.Label(n.Shape[0]);
        var h = s.Label(n.Shape[1]);
        s.Inputs = [ids, [.. ids, h]];
        s.Output = [v, h];
        return s;
    }

    /// <summary>
    /// Cross-entropy and its gradient: split leading dims or the vocab; a split vocab needs the
    /// row max, the sum of exponentials and the target logit all-reduced (Megatron's vocab-parallel loss).
    /// </summary>
    public static LoopSpace CrossEntropy(Node n)
    {
        var s = new LoopSpace();
        var logits = n.Inputs[0].Shape;
        var labels = s.Labels(logits);
        var lead = labels[..^1];
        s.Inputs = n.Op == OpKind.CrossEntropy ? [labels, lead] : [labels, lead, []];
        s.Output = n.Op == OpKind.CrossEntropy ? [] : labels;
        var rows = (double)logits.Take(logits.Rank - 1).Elements;
        var stats = n.Op == OpKind.CrossEntropy ? 3 : 2;
        s.Extra = (mask, mesh) =>
        {
            var vAxes = mask[labels[^1]];
            if (vAxes == 0) return [];
            var leadParts = 1;
            foreach (var l in lead) leadParts *= ShardingSpec.AxesProduct(mask[l], mesh);
            return [(CollectiveKind.AllReduce, vAxes, stats * rows / leadParts * 4)];
        };
        return s;
    }

    /// <summary>Reductions: reduced dims contracted (partial results all-reduced).</summary>
    public static LoopSpace Reduce(Node n)
    {
        var s = new LoopSpace();
        var x = n.Inputs[0].Shape;
        var labels = s.Labels(x);
        var reduced = Reduced(n, x.Rank);
        s.Inputs = [labels];
        var output = new List<int>();
        for (var i = 0; i < x.Rank; i++)
        {
            if (!reduced[i]) output.Add(labels[i]);
            else if (n.Attrs.KeepDims) output.Add(-1);
        }
        s.Output = [.. output];
        return s;
    }

    /// <summary>Max-reduction gradient: the reduced dims stay whole (the arg-max must be local).</summary>
    public static LoopSpace ReduceMaxGrad(Node n)
    {
        var s = new LoopSpace();
        var x = n.Inputs[0].Shape;
        var labels = s.Labels(x);
        var reduced = Reduced(n, x.Rank);
        var dy = new List<int>();
        for (var i = 0; i < x.Rank; i++)
        {
            if (reduced[i])
            {
                s.Fix(labels[i]);
                if (n.Attrs.KeepDims) dy.Add(-1);
            }
            else
            {
                dy.Add(labels[i]);
            }
        }
        s.Inputs = [labels, [.. dy]];
        s.Output = labels;
        return s;
    }

    public static LoopSpace Transpose(Node n)
    {
        var s = new LoopSpace();
        var labels = s.Labels(n.Inputs[0].Shape);
        s.Inputs = [labels];
        s.Output = [.. n.Attrs.Axes!.Select(a => labels[a])];
        return s;
    }

    /// <summary>Slice, its gradient and concat: the sliced/concatenated axis stays whole.</summary>
    public static LoopSpace AlongAxis(Node n)
    {
        var s = new LoopSpace();
        var labels = s.Labels(n.Shape);
        var axis = n.Attrs.Axis < 0 ? n.Attrs.Axis + n.Shape.Rank : n.Attrs.Axis;
        var dims = (int[])labels.Clone();
        dims[axis] = -1;
        s.Inputs = [.. n.Inputs.Select(_ => dims)];
        s.Output = dims;
        return s;
    }

    /// <summary>Top-2 gating and its gradient: only the group dim G may be split.</summary>
    public static LoopSpace MoeGate(Node n)
    {
        var s = new LoopSpace();
        var logits = n.Inputs[0].Shape;
        var g = s.Label(logits[0]);
        int[] gse = [g, -1, -1];
        s.Inputs = n.Op == OpKind.MoeGate ? [gse] : [gse, [g, -1, -1, -1]];
        s.Output = n.Op == OpKind.MoeGate ? [g, -1, -1, -1] : gse;
        return s;
    }

    /// <summary>GShard einsums: dispatch GSM,GSEC→EGCM; combine EGCM,GSEC→GSM; combine-weights gradient GSM,EGCM→GSEC.</summary>
    public static LoopSpace Moe(Node n)
    {
        var s = new LoopSpace();
        var comb = n.Op == OpKind.MoeCombineGradWeights ? n.Shape : n.Inputs[1].Shape;
        var g = s.Label(comb[0]);
        var sl = s.Label(comb[1]);
        var e = s.Label(comb[2]);
        var c = s.Label(comb[3]);
        var m = s.Label(n.Op == OpKind.MoeCombine ? n.Inputs[0].Shape[3] : n.Inputs[0].Shape[2]);
        int[] gsm = [g, sl, m], gsec = [g, sl, e, c], egcm = [e, g, c, m];
        (s.Inputs, s.Output) = n.Op switch
        {
            OpKind.MoeDispatch => (new[] { gsm, gsec }, egcm),
            OpKind.MoeCombine => (new[] { egcm, gsec }, gsm),
            _ => (new[] { gsm, egcm }, gsec),
        };
        return s;
    }

    /// <summary>Convolutions (NHWC): split batch N, input channels Cin or output channels Cout; spatial dims whole.</summary>
    public static LoopSpace Conv(Node n)
    {
        var s = new LoopSpace();
        var (x, w) = n.Op switch
        {
            OpKind.Conv2d => (n.Inputs[0].Shape, n.Inputs[1].Shape),
            OpKind.Conv2dGradInput => (n.Shape, n.Inputs[1].Shape),
            _ => (n.Inputs[0].Shape, n.Shape),
        };
        var nb = s.Label(x[0]);
        var cin = s.Label(w[2]);
        var cout = s.Label(w[3]);
        int[] xd = [nb, -1, -1, cin], wd = [-1, -1, cin, cout], yd = [nb, -1, -1, cout];
        (s.Inputs, s.Output) = n.Op switch
        {
            OpKind.Conv2d => (new[] { xd, wd }, yd),
            OpKind.Conv2dGradInput => (new[] { yd, wd }, xd),
            _ => (new[] { xd, yd }, wd),
        };
        return s;
    }

    /// <summary>Pooling and its gradients: N and C may be split.</summary>
    public static LoopSpace Pool(Node n)
    {
        var s = new LoopSpace();
        var nb = s.Label(n.Shape[0]);
        var c = s.Label(n.Shape[3]);
        int[] d = [nb, -1, -1, c];
        s.Inputs = [.. n.Inputs.Select(_ => d)];
        s.Output = d;
        return s;
    }

    private static bool[] Reduced(Node n, int rank)
    {
        var reduced = new bool[rank];
        var axes = n.Attrs.Axes ?? [.. Enumerable.Range(0, rank)];
        foreach (var a in axes) reduced[a < 0 ? a + rank : a] = true;
        return reduced;
    }
}
