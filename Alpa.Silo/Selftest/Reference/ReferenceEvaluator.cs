using Alpa.Planner.Graph;

namespace Alpa.Silo.Selftest.Reference;

/// <summary>The value of every node of one evaluation.</summary>
public sealed class RefValues(Graph graph, RefTensor[] values)
{
    public RefTensor this[Node node] => values[node.Id];
    public RefTensor this[string name] => values[graph[name].Id];
}

/// <summary>
/// A float64 oracle for any graph of the IR: every <see cref="OpKind"/>, forward, gradient and
/// optimizer ops, written as plain loops that follow the semantics documented in OpKind.cs.
/// Casts between float types keep the double value (the oracle evaluates the math, not the
/// rounding); a cast to i32 truncates toward zero. MaxPool ignores padded positions (−∞);
/// AvgPool counts them as zeros and divides by Kernel². Ties in max/top-k pick the first index.
/// </summary>
public static partial class ReferenceEvaluator
{
    /// <summary>
    /// Evaluates every node. <paramref name="leaves"/> gives Parameters and Inputs by name;
    /// a State that is not given starts at zero; a Constant is filled from its attrs.
    /// </summary>
    public static RefValues Evaluate(Graph graph, IReadOnlyDictionary<string, RefTensor> leaves)
    {
        var values = new RefTensor[graph.Nodes.Count];
        foreach (var n in graph.Nodes)
        {
            var v = n.IsLeaf ? Leaf(n, leaves) : Apply(n, [.. n.Inputs.Select(i => values[i.Id])]);
            if (v.Shape != n.Shape)
                throw new InvalidOperationException($"reference value of '{n.Name}' has shape {v.Shape}, the node says {n.Shape}");
            values[n.Id] = v;
        }
        return new RefValues(graph, values);
    }

    private static RefTensor Leaf(Node n, IReadOnlyDictionary<string, RefTensor> leaves)
    {
        if (n.Op == OpKind.Constant) return RefTensor.Filled(n.Shape, n.Attrs.Value);
        if (leaves.TryGetValue(n.Name, out var t))
        {
            if (t.Shape != n.Shape) throw new ArgumentException($"leaf '{n.Name}' was given shape {t.Shape}, the graph says {n.Shape}");
            return t;
        }
        if (n.Op == OpKind.State) return RefTensor.Zeros(n.Shape);
        throw new ArgumentException($"no value given for {n.Op} '{n.Name}'");
    }

    /// <summary>One op on its input values; the result has <c>n.Shape</c>.</summary>
    public static RefTensor Apply(Node n, RefTensor[] x)
    {
        var a = n.Attrs;
        return n.Op switch
        {
            OpKind.MatMul => MatMul(n, x[0], x[1]),
            OpKind.Add => Binary(n, x[0], x[1], (p, q) => p + q),
            OpKind.Sub => Binary(n, x[0], x[1], (p, q) => p - q),
            OpKind.Mul => Binary(n, x[0], x[1], (p, q) => p * q),
            OpKind.Div => Binary(n, x[0], x[1], (p, q) => p / q),
            OpKind.Scale => Unary(n, x[0], v => v * a.Value),
            OpKind.Gelu => Unary(n, x[0], Gelu),
            OpKind.Relu => Unary(n, x[0], v => v > 0 ? v : 0),
            OpKind.Tanh => Unary(n, x[0], Math.Tanh),
            OpKind.Exp => Unary(n, x[0], Math.Exp),
            OpKind.Sqrt => Unary(n, x[0], Math.Sqrt),
            OpKind.Cast => Unary(n, x[0], v => a.To == DType.I32 ? Math.Truncate(v) : v),
            OpKind.CausalMask => CausalMask(n, x[0]),
            OpKind.Softmax => Softmax(n, x[0]),
            OpKind.LayerNorm => Normalize(n, x[0], x[1], x[2], LayerNormGroups(x[0].Shape)),
            OpKind.BatchNorm => Normalize(n, x[0], x[1], x[2], BatchNormGroups(x[0].Shape)),
            OpKind.Embedding => Embedding(n, x[0], x[1]),
            OpKind.CrossEntropy => CrossEntropy(x[0], x[1]),
            OpKind.Reshape => new RefTensor(n.Shape, (double[])x[0].Data.Clone()),
            OpKind.Transpose => Transpose(n, x[0]),
            OpKind.Slice => Slice(n, x[0]),
            OpKind.Concat => Concat(n, x),
            OpKind.Broadcast => Unary(n, x[0], v => v, broadcast: true),
            OpKind.ReduceSum => Reduce(n, x[0], 0.0, (acc, v) => acc + v),
            OpKind.ReduceMean => Mean(n, x[0]),
            OpKind.ReduceMax => Reduce(n, x[0], double.NegativeInfinity, Math.Max),
            OpKind.MoeGate => MoeGate(n, x[0]),
            OpKind.MoeDispatch => MoeDispatch(n, x[0], x[1]),
            OpKind.MoeCombine => MoeCombine(n, x[0], x[1]),
            OpKind.Conv2d => Conv2d(n, x[0], x[1]),
            OpKind.MaxPool => MaxPool(n, x[0]),
            OpKind.AvgPool => AvgPool(n, x[0]),
            OpKind.GeluGrad => Binary(n, x[0], x[1], (v, dy) => GeluDerivative(v) * dy),
            OpKind.ReluGrad => Binary(n, x[0], x[1], (v, dy) => v > 0 ? dy : 0),
            OpKind.TanhGrad => Binary(n, x[0], x[1], (y, dy) => dy * (1 - y * y)),
            OpKind.SoftmaxGrad => SoftmaxGrad(n, x[0], x[1]),
            OpKind.LayerNormGradInput => NormalizeGradInput(n, x[0], x[1], x[2], LayerNormGroups(x[0].Shape)),
            OpKind.LayerNormGradGamma => NormalizeGradGamma(n, x[0], x[1], LayerNormGroups(x[0].Shape)),
            OpKind.BatchNormGradInput => NormalizeGradInput(n, x[0], x[1], x[2], BatchNormGroups(x[0].Shape)),
            OpKind.BatchNormGradGamma => NormalizeGradGamma(n, x[0], x[1], BatchNormGroups(x[0].Shape)),
            OpKind.EmbeddingGrad => EmbeddingGrad(n, x[0], x[1]),
            OpKind.CrossEntropyGrad => CrossEntropyGrad(x[0], x[1], x[2]),
            OpKind.SliceGrad => SliceGrad(n, x[0]),
            OpKind.ReduceMaxGrad => ReduceMaxGrad(n, x[0], x[1]),
            OpKind.MoeGateGrad => MoeGateGrad(n, x[0], x[1]),
            OpKind.MoeCombineGradWeights => MoeCombineGradWeights(n, x[0], x[1]),
            OpKind.Conv2dGradInput => Conv2dGradInput(n, x[0], x[1]),
            OpKind.Conv2dGradWeight => Conv2dGradWeight(n, x[0], x[1]),
            OpKind.MaxPoolGrad => MaxPoolGrad(n, x[0], x[1]),
            OpKind.AvgPoolGrad => AvgPoolGrad(n, x[0]),
            OpKind.ClipCoefficient => RefTensor.Scalar(Math.Min(1.0, a.Value / (Math.Sqrt(x[0].Value) + 1e-6))),
            OpKind.SgdMomentum => Binary(n, x[0], x[1], (buf, g) => a.Momentum * buf + g),
            OpKind.SgdUpdate => SgdUpdate(n, x[0], x[1], x[2].Value),
            OpKind.AdamMoment => Binary(n, x[0], x[1], (m, g) => a.Beta * m + (1 - a.Beta) * (a.Square ? g * g : g)),
            OpKind.AdamUpdate => AdamUpdate(n, x[0], x[1], x[2], x[3].Value, x[4].Value),
            _ => throw new NotSupportedException($"the reference evaluator has no rule for {n.Op}"),
        };
    }

    // ── Element-wise ──────────────────────────────────────────────────────────────────────

    /// <summary>For each flat index of <paramref name="to"/>, the flat index of <paramref name="from"/> under NumPy broadcasting.</summary>
    public static long[] BroadcastMap(Shape from, Shape to)
    {
        var map = new long[to.Elements];
        var idx = new long[to.Rank];
        var offset = to.Rank - from.Rank;
        for (long f = 0; f < map.Length; f++)
        {
            RefTensor.Unravel(to, f, idx);
            long src = 0;
            for (var i = 0; i < from.Rank; i++) src = src * from[i] + (from[i] == 1 ? 0 : idx[i + offset]);
            map[f] = src;
        }
        return map;
    }

    private static RefTensor Unary(Node n, RefTensor x, Func<double, double> f, bool broadcast = false)
    {
        var outT = RefTensor.Zeros(n.Shape);
        var map = broadcast ? BroadcastMap(x.Shape, n.Shape) : null;
        for (long i = 0; i < outT.Data.Length; i++) outT.Data[i] = f(x.Data[map is null ? i : map[i]]);
        return outT;
    }

    private static RefTensor Binary(Node n, RefTensor x, RefTensor y, Func<double, double, double> f)
    {
        var outT = RefTensor.Zeros(n.Shape);
        var mx = BroadcastMap(x.Shape, n.Shape);
        var my = BroadcastMap(y.Shape, n.Shape);
        for (long i = 0; i < outT.Data.Length; i++) outT.Data[i] = f(x.Data[mx[i]], y.Data[my[i]]);
        return outT;
    }

    private const double GeluC = 0.7978845608028654; // √(2/π)

    private static double Gelu(double x) => 0.5 * x * (1 + Math.Tanh(GeluC * (x + 0.044715 * x * x * x)));

    private static double GeluDerivative(double x)
    {
        var t = Math.Tanh(GeluC * (x + 0.044715 * x * x * x));
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GeluC * (1 + 3 * 0.044715 * x * x);
    }

    private static RefTensor CausalMask(Node n, RefTensor x)
    {
        var outT = x.Clone();
        long q = n.Shape[-2], k = n.Shape[-1];
        for (long i = 0; i < outT.Data.Length; i++)
        {
            long col = i % k, row = i / k % q;
            if (col > row) outT.Data[i] = n.Attrs.Value;
        }
        return outT;
    }

    // ── Linear algebra ────────────────────────────────────────────────────────────────────

    private static RefTensor MatMul(Node n, RefTensor a, RefTensor b)
    {
        bool ta = n.Attrs.TransA, tb = n.Attrs.TransB;
        long m = n.Shape[-2], cols = n.Shape[-1];
        var k = ta ? a.Shape[-2] : a.Shape[-1];
        var batches = n.Shape.Elements / (m * cols);
        var bShared = b.Shape.Rank == 2;
        var outT = RefTensor.Zeros(n.Shape);
        for (long p = 0; p < batches; p++)
        {
            var aBase = p * m * k;
            var bBase = bShared ? 0 : p * k * cols;
            for (long i = 0; i < m; i++)
                for (long j = 0; j < cols; j++)
                {
                    double sum = 0;
                    for (long t = 0; t < k; t++)
                    {
                        var av = a.Data[aBase + (ta ? t * m + i : i * k + t)];
                        var bv = b.Data[bBase + (tb ? j * k + t : t * cols + j)];
                        sum += av * bv;
                    }
                    outT.Data[p * m * cols + i * cols + j] = sum;
                }
        }
        return outT;
    }

    // ── Shape ─────────────────────────────────────────────────────────────────────────────

    private static RefTensor Transpose(Node n, RefTensor x)
    {
        var perm = n.Attrs.Axes!;
        var outT = RefTensor.Zeros(n.Shape);
        var o = new long[n.Shape.Rank];
        var src = new long[n.Shape.Rank];
        for (long f = 0; f < outT.Data.Length; f++)
        {
            RefTensor.Unravel(n.Shape, f, o);
            for (var i = 0; i < perm.Length; i++) src[perm[i]] = o[i];
            outT.Data[f] = x.Data[RefTensor.Flat(x.Shape, src)];
        }
        return outT;
    }

    private static RefTensor Slice(Node n, RefTensor x)
    {
        var axis = x.Shape.Axis(n.Attrs.Axis);
        var outT = RefTensor.Zeros(n.Shape);
        var idx = new long[n.Shape.Rank];
        for (long f = 0; f < outT.Data.Length; f++)
        {
            RefTensor.Unravel(n.Shape, f, idx);
            idx[axis] += n.Attrs.Start;
            outT.Data[f] = x.Data[RefTensor.Flat(x.Shape, idx)];
        }
        return outT;
    }

    private static RefTensor SliceGrad(Node n, RefTensor dy)
    {
        var axis = n.Shape.Axis(n.Attrs.Axis);
        var outT = RefTensor.Zeros(n.Shape);
        var idx = new long[dy.Shape.Rank];
        for (long f = 0; f < dy.Data.Length; f++)
        {
            RefTensor.Unravel(dy.Shape, f, idx);
            idx[axis] += n.Attrs.Start;
            outT.Data[RefTensor.Flat(n.Shape, idx)] = dy.Data[f];
        }
        return outT;
    }

    private static RefTensor Concat(Node n, RefTensor[] xs)
    {
        var axis = n.Shape.Axis(n.Attrs.Axis);
        var outT = RefTensor.Zeros(n.Shape);
        long offset = 0;
        foreach (var x in xs)
        {
            var idx = new long[x.Shape.Rank];
            for (long f = 0; f < x.Data.Length; f++)
            {
                RefTensor.Unravel(x.Shape, f, idx);
                idx[axis] += offset;
                outT.Data[RefTensor.Flat(n.Shape, idx)] = x.Data[f];
            }
            offset += x.Shape[axis];
        }
        return outT;
    }

    // ── Reductions ────────────────────────────────────────────────────────────────────────

    /// <summary>For each flat index of <paramref name="x"/>, the flat index of its reduction result.</summary>
    private static long[] ReductionMap(Shape x, int[]? axes, out long outElements)
    {
        var reduced = new bool[x.Rank];
        foreach (var ax in axes ?? Enumerable.Range(0, x.Rank).ToArray()) reduced[x.Axis(ax)] = true;
        var kept = Enumerable.Range(0, x.Rank).Where(i => !reduced[i]).Select(i => x[i]).ToArray();
        var keptShape = new Shape(kept);
        outElements = keptShape.Elements;
        var map = new long[x.Elements];
        var idx = new long[x.Rank];
        for (long f = 0; f < map.Length; f++)
        {
            RefTensor.Unravel(x, f, idx);
            long o = 0;
            for (var i = 0; i < x.Rank; i++)
                if (!reduced[i]) o = o * x[i] + idx[i];
            map[f] = o;
        }
        return map;
    }

    private static RefTensor Reduce(Node n, RefTensor x, double init, Func<double, double, double> f)
    {
        var map = ReductionMap(x.Shape, n.Attrs.Axes, out _);
        var outT = RefTensor.Filled(n.Shape, init);
        for (long i = 0; i < map.Length; i++) outT.Data[map[i]] = f(outT.Data[map[i]], x.Data[i]);
        return outT;
    }

    private static RefTensor Mean(Node n, RefTensor x)
    {
        var sum = Reduce(n, x, 0.0, (acc, v) => acc + v);
        var count = (double)x.Shape.Elements / n.Shape.Elements;
        for (var i = 0; i < sum.Data.Length; i++) sum.Data[i] /= count;
        return sum;
    }

    private static RefTensor ReduceMaxGrad(Node n, RefTensor x, RefTensor dy)
    {
        var map = ReductionMap(x.Shape, n.Attrs.Axes, out var outCount);
        var best = new long[outCount];
        Array.Fill(best, -1L);
        for (long i = 0; i < map.Length; i++)
            if (best[map[i]] < 0 || x.Data[i] > x.Data[best[map[i]]]) best[map[i]] = i;
        var dx = RefTensor.Zeros(x.Shape);
        for (long o = 0; o < outCount; o++) dx.Data[best[o]] += dy.Data[o];
        return dx;
    }

    // ── Optimizer ─────────────────────────────────────────────────────────────────────────

    private static RefTensor SgdUpdate(Node n, RefTensor p, RefTensor d, double lr)
    {
        var outT = RefTensor.Zeros(n.Shape);
        for (var i = 0; i < outT.Data.Length; i++) outT.Data[i] = p.Data[i] - lr * (d.Data[i] + n.Attrs.WeightDecay * p.Data[i]);
        return outT;
    }

    private static RefTensor AdamUpdate(Node n, RefTensor p, RefTensor m, RefTensor v, double lr, double step)
    {
        var a = n.Attrs;
        var c1 = 1 - Math.Pow(a.Beta, step);
        var c2 = 1 - Math.Pow(a.Beta2, step);
        var outT = RefTensor.Zeros(n.Shape);
        for (var i = 0; i < outT.Data.Length; i++)
        {
            var mHat = m.Data[i] / c1;
            var vHat = v.Data[i] / c2;
            outT.Data[i] = p.Data[i] - lr * (mHat / (Math.Sqrt(vHat) + a.Epsilon) + a.WeightDecay * p.Data[i]);
        }
        return outT;
    }
}
