namespace Alpa.Planner.Graph;

// Shape and dtype inference: every check a node must pass before it exists.
public sealed partial class GraphBuilder
{
    private static (Shape Shape, DType DType) Infer(OpKind op, IReadOnlyList<Node> x, OpAttrs a, string name)
    {
        void Arity(int n)
        {
            if (x.Count != n) throw Err(name, op, $"takes {n} input(s), got {x.Count}");
        }
        void Float(Node n)
        {
            if (!n.DType.IsFloat()) throw Err(name, op, $"input '{n.Name}' must be a float tensor, got {n.DType.ToJsonName()}");
        }
        void SameDType(Node p, Node q)
        {
            if (p.DType != q.DType) throw Err(name, op, $"dtypes differ: '{p.Name}' is {p.DType.ToJsonName()}, '{q.Name}' is {q.DType.ToJsonName()}");
        }
        void SameShape(Node p, Node q)
        {
            if (p.Shape != q.Shape) throw Err(name, op, $"shapes differ: '{p.Name}' is {p.Shape}, '{q.Name}' is {q.Shape}");
        }
        void Scalar(Node n)
        {
            if (n.Shape.Rank != 0) throw Err(name, op, $"input '{n.Name}' must be a scalar, got {n.Shape}");
        }
        void MinRank(Node n, int r)
        {
            if (n.Shape.Rank < r) throw Err(name, op, $"input '{n.Name}' needs rank ≥ {r}, got {n.Shape}");
        }
        void Rank(Node n, int r)
        {
            if (n.Shape.Rank != r) throw Err(name, op, $"input '{n.Name}' needs rank {r}, got {n.Shape}");
        }
        Shape AttrShape()
        {
            if (a.Shape is null) throw Err(name, op, "needs the 'shape' attribute");
            try { return new Shape(a.Shape); }
            catch (ShapeException e) { throw Err(name, op, e.Message); }
        }

        switch (op)
        {
            case OpKind.Parameter or OpKind.Input or OpKind.Constant or OpKind.State:
                throw Err(name, op, "is a leaf; create it with Leaf()");

            case OpKind.MatMul:
            {
                Arity(2);
                var (p, q) = (x[0], x[1]);
                Float(p); SameDType(p, q); MinRank(p, 2); MinRank(q, 2);
                var ps = p.Shape; var qs = q.Shape;
                long m = a.TransA ? ps[-1] : ps[-2], k1 = a.TransA ? ps[-2] : ps[-1];
                long k2 = a.TransB ? qs[-1] : qs[-2], n = a.TransB ? qs[-2] : qs[-1];
                if (k1 != k2) throw Err(name, op, $"contraction sizes differ: {ps}{(a.TransA ? "ᵀ" : "")} × {qs}{(a.TransB ? "ᵀ" : "")} ({k1} vs {k2})");
                var batchP = ps.Take(ps.Rank - 2);
                var batchQ = qs.Take(qs.Rank - 2);
                if (qs.Rank > 2 && batchP != batchQ) throw Err(name, op, $"batch dimensions differ: {batchP} vs {batchQ}");
                return (batchP.Concat(m, n), p.DType);
            }

            case OpKind.Add or OpKind.Sub or OpKind.Mul or OpKind.Div:
            {
                Arity(2); Float(x[0]); SameDType(x[0], x[1]);
                var s = Shape.Broadcast(x[0].Shape, x[1].Shape)
                    ?? throw Err(name, op, $"shapes {x[0].Shape} and {x[1].Shape} do not broadcast");
                return (s, x[0].DType);
            }

            case OpKind.Scale or OpKind.Gelu or OpKind.Relu or OpKind.Tanh or OpKind.Exp or OpKind.Sqrt or OpKind.Softmax:
                Arity(1); Float(x[0]);
                if (op == OpKind.Softmax) MinRank(x[0], 1);
                return (x[0].Shape, x[0].DType);

            case OpKind.Cast:
                Arity(1);
                return (x[0].Shape, a.To);

            case OpKind.CausalMask:
                Arity(1); Float(x[0]); MinRank(x[0], 2);
                return (x[0].Shape, x[0].DType);

            case OpKind.LayerNorm:
            {
                Arity(3); Float(x[0]); MinRank(x[0], 1);
                var h = x[0].Shape[-1];
                foreach (var g in x.Skip(1))
                    if (g.Shape != new Shape(h)) throw Err(name, op, $"'{g.Name}' must be [{h}], got {g.Shape}");
                SameDType(x[0], x[1]); SameDType(x[0], x[2]);
                if (a.Epsilon <= 0) throw Err(name, op, "needs epsilon > 0");
                return (x[0].Shape, x[0].DType);
            }

            case OpKind.BatchNorm:
            {
                Arity(3); Float(x[0]); Rank(x[0], 4);
                var c = x[0].Shape[3];
                foreach (var g in x.Skip(1))
                    if (g.Shape != new Shape(c)) throw Err(name, op, $"'{g.Name}' must be [{c}], got {g.Shape}");
                SameDType(x[0], x[1]); SameDType(x[0], x[2]);
                if (a.Epsilon <= 0) throw Err(name, op, "needs epsilon > 0");
                return (x[0].Shape, x[0].DType);
            }

            case OpKind.Embedding:
            {
                Arity(2); Float(x[0]); Rank(x[0], 2);
                if (x[1].DType != DType.I32) throw Err(name, op, $"ids '{x[1].Name}' must be i32, got {x[1].DType.ToJsonName()}");
                return (x[1].Shape.Concat(x[0].Shape[1]), x[0].DType);
            }

            case OpKind.CrossEntropy:
            {
                Arity(2); Float(x[0]); MinRank(x[0], 1);
                if (x[1].DType != DType.I32) throw Err(name, op, $"labels '{x[1].Name}' must be i32, got {x[1].DType.ToJsonName()}");
                if (x[1].Shape != x[0].Shape.Take(x[0].Shape.Rank - 1))
                    throw Err(name, op, $"labels {x[1].Shape} must match logits {x[0].Shape} without the class axis");
                return (Shape.Scalar, DType.F32);
            }

            case OpKind.Reshape:
            {
                Arity(1);
                var target = a.Shape ?? throw Err(name, op, "needs the 'shape' attribute");
                var dims = (long[])target.Clone();
                var infer = Array.IndexOf(dims, -1L);
                if (infer >= 0)
                {
                    long known = 1;
                    for (var i = 0; i < dims.Length; i++) if (i != infer) known *= dims[i];
                    if (known == 0 || x[0].Shape.Elements % known != 0)
                        throw Err(name, op, $"cannot infer -1 in [{string.Join(", ", target)}] from {x[0].Shape}");
                    dims[infer] = x[0].Shape.Elements / known;
                }
                var s = new Shape(dims);
                if (s.Elements != x[0].Shape.Elements) throw Err(name, op, $"cannot reshape {x[0].Shape} ({x[0].Shape.Elements} elements) to {s}");
                return (s, x[0].DType);
            }

            case OpKind.Transpose:
            {
                Arity(1);
                var perm = a.Axes ?? throw Err(name, op, "needs the permutation in 'axes'");
                var r = x[0].Shape.Rank;
                if (perm.Length != r || perm.Distinct().Count() != r || perm.Any(p => p < 0 || p >= r))
                    throw Err(name, op, $"[{string.Join(", ", perm)}] is not a permutation of {r} axes");
                return (new Shape(perm.Select(p => x[0].Shape[p]).ToArray()), x[0].DType);
            }

            case OpKind.Slice:
            {
                Arity(1);
                var axis = NormAxis(x[0].Shape, a.Axis, name, op);
                var d = x[0].Shape[axis];
                if (a.Start < 0 || a.End > d || a.Start >= a.End)
                    throw Err(name, op, $"range [{a.Start}, {a.End}) is not inside axis {axis} of size {d}");
                return (x[0].Shape.With(axis, a.End - a.Start), x[0].DType);
            }

            case OpKind.Concat:
            {
                if (x.Count == 0) throw Err(name, op, "needs at least one input");
                var axis = NormAxis(x[0].Shape, a.Axis, name, op);
                long total = 0;
                foreach (var t in x)
                {
                    SameDType(x[0], t);
                    if (t.Shape.Rank != x[0].Shape.Rank || t.Shape.With(axis, 0) != x[0].Shape.With(axis, 0))
                        throw Err(name, op, $"'{t.Name}' {t.Shape} does not match {x[0].Shape} outside axis {axis}");
                    total += t.Shape[axis];
                }
                return (x[0].Shape.With(axis, total), x[0].DType);
            }

            case OpKind.Broadcast:
            {
                Arity(1);
                var target = AttrShape();
                if (Shape.Broadcast(x[0].Shape, target) != target)
                    throw Err(name, op, $"{x[0].Shape} does not broadcast to {target}");
                return (target, x[0].DType);
            }

            case OpKind.ReduceSum or OpKind.ReduceMean or OpKind.ReduceMax:
                Arity(1); Float(x[0]);
                return (Reduced(x[0].Shape, a, name, op), x[0].DType);

            case OpKind.MoeGate:
                Arity(1); Float(x[0]); Rank(x[0], 3);
                if (a.Capacity <= 0) throw Err(name, op, "needs capacity > 0");
                return (x[0].Shape.Concat(a.Capacity), x[0].DType);

            case OpKind.MoeDispatch:
            {
                Arity(2); Float(x[0]); Rank(x[0], 3); Rank(x[1], 4); SameDType(x[0], x[1]);
                var (xs, cs) = (x[0].Shape, x[1].Shape);
                if (xs[0] != cs[0] || xs[1] != cs[1]) throw Err(name, op, $"tokens {xs} and combine {cs} disagree on [G, S]");
                return (new Shape(cs[2], cs[0], cs[3], xs[2]), x[0].DType);
            }

            case OpKind.MoeCombine:
            {
                Arity(2); Float(x[0]); Rank(x[0], 4); Rank(x[1], 4); SameDType(x[0], x[1]);
                var (ys, cs) = (x[0].Shape, x[1].Shape);
                if (ys[0] != cs[2] || ys[1] != cs[0] || ys[2] != cs[3])
                    throw Err(name, op, $"expert outputs {ys} [E, G, C, M] and combine {cs} [G, S, E, C] disagree");
                return (new Shape(cs[0], cs[1], ys[3]), x[0].DType);
            }

            case OpKind.Conv2d:
            {
                Arity(2); Float(x[0]); Rank(x[0], 4); Rank(x[1], 4); SameDType(x[0], x[1]);
                var (xs, ws) = (x[0].Shape, x[1].Shape);
                if (xs[3] != ws[2]) throw Err(name, op, $"input channels {xs[3]} of {xs} differ from the weight's {ws[2]} in {ws}");
                var ho = ConvOut(xs[1], ws[0], a, name, op);
                var wo = ConvOut(xs[2], ws[1], a, name, op);
                return (new Shape(xs[0], ho, wo, ws[3]), x[0].DType);
            }

            case OpKind.MaxPool or OpKind.AvgPool:
            {
                Arity(1); Float(x[0]); Rank(x[0], 4);
                if (a.Kernel <= 0) throw Err(name, op, "needs kernel > 0");
                var xs = x[0].Shape;
                return (new Shape(xs[0], ConvOut(xs[1], a.Kernel, a, name, op), ConvOut(xs[2], a.Kernel, a, name, op), xs[3]), x[0].DType);
            }

            case OpKind.GeluGrad or OpKind.ReluGrad or OpKind.TanhGrad or OpKind.SoftmaxGrad or OpKind.MaxPoolGrad or OpKind.ReduceMaxGrad:
                Arity(2); Float(x[0]); SameDType(x[0], x[1]);
                if (op == OpKind.MaxPoolGrad)
                {
                    Rank(x[0], 4);
                    return (x[0].Shape, x[0].DType);
                }
                if (op == OpKind.ReduceMaxGrad)
                {
                    var reduced = Reduced(x[0].Shape, a, name, op);
                    if (reduced != x[1].Shape) throw Err(name, op, $"dy {x[1].Shape} must be the reduced shape {reduced}");
                    return (x[0].Shape, x[0].DType);
                }
                SameShape(x[0], x[1]);
                return (x[0].Shape, x[0].DType);

            case OpKind.LayerNormGradInput or OpKind.BatchNormGradInput:
                Arity(3); Float(x[0]); SameShape(x[0], x[2]);
                return (x[0].Shape, x[0].DType);

            case OpKind.LayerNormGradGamma:
                Arity(2); Float(x[0]); SameShape(x[0], x[1]); MinRank(x[0], 1);
                return (new Shape(x[0].Shape[-1]), x[0].DType);

            case OpKind.BatchNormGradGamma:
                Arity(2); Float(x[0]); SameShape(x[0], x[1]); Rank(x[0], 4);
                return (new Shape(x[0].Shape[3]), x[0].DType);

            case OpKind.EmbeddingGrad:
            {
                Arity(2);
                var table = AttrShape();
                if (table.Rank != 2 || x[1].Shape != x[0].Shape.Concat(table[1]))
                    throw Err(name, op, $"dy {x[1].Shape} must be ids {x[0].Shape} + [{(table.Rank == 2 ? table[1] : -1)}]");
                return (table, x[1].DType);
            }

            case OpKind.CrossEntropyGrad:
                Arity(3); Scalar(x[2]);
                return (x[0].Shape, x[0].DType);

            case OpKind.SliceGrad:
            {
                Arity(1);
                var full = AttrShape();
                var axis = NormAxis(full, a.Axis, name, op);
                if (full.With(axis, a.End - a.Start) != x[0].Shape || a.Start < 0 || a.End > full[axis])
                    throw Err(name, op, $"dy {x[0].Shape} does not fit [{a.Start}, {a.End}) of axis {axis} in {full}");
                return (full, x[0].DType);
            }

            case OpKind.MoeGateGrad:
                Arity(2); Rank(x[0], 3);
                if (x[1].Shape != x[0].Shape.Concat(a.Capacity)) throw Err(name, op, $"dcombine {x[1].Shape} must be {x[0].Shape.Concat(a.Capacity)}");
                return (x[0].Shape, x[0].DType);

            case OpKind.MoeCombineGradWeights:
            {
                Arity(2); Rank(x[0], 3); Rank(x[1], 4);
                var (ds, ys) = (x[0].Shape, x[1].Shape);
                if (ds[0] != ys[1] || ds[2] != ys[3]) throw Err(name, op, $"dout {ds} and expert outputs {ys} disagree");
                return (new Shape(ds[0], ds[1], ys[0], ys[2]), x[0].DType);
            }

            case OpKind.Conv2dGradInput or OpKind.Conv2dGradWeight or OpKind.AvgPoolGrad:
            {
                Arity(op == OpKind.AvgPoolGrad ? 1 : 2);
                var target = AttrShape();
                if (target.Rank != 4) throw Err(name, op, $"result shape {target} must have rank 4");
                return (target, x[0].DType);
            }

            case OpKind.ClipCoefficient:
                Arity(1); Scalar(x[0]);
                if (a.Value <= 0) throw Err(name, op, "needs a max norm > 0 in 'value'");
                return (Shape.Scalar, x[0].DType);

            case OpKind.SgdMomentum or OpKind.AdamMoment:
                Arity(2); SameShape(x[0], x[1]); Float(x[0]);
                return (x[0].Shape, x[0].DType);

            case OpKind.SgdUpdate:
                Arity(3); SameShape(x[0], x[1]); Scalar(x[2]);
                return (x[0].Shape, x[0].DType);

            case OpKind.AdamUpdate:
                Arity(5); SameShape(x[0], x[1]); SameShape(x[0], x[2]); Scalar(x[3]); Scalar(x[4]);
                return (x[0].Shape, x[0].DType);

            default:
                throw Err(name, op, "is not a known op kind");
        }
    }

    private static long ConvOut(long size, long kernel, OpAttrs a, string name, OpKind op)
    {
        if (a.Stride <= 0 || a.Padding < 0) throw Err(name, op, $"stride {a.Stride} / padding {a.Padding} are invalid");
        var span = size + 2L * a.Padding - kernel;
        if (span < 0) throw Err(name, op, $"window {kernel} is larger than the padded input {size + 2L * a.Padding}");
        return span / a.Stride + 1;
    }

    private static int NormAxis(Shape s, int axis, string name, OpKind op)
    {
        var r = axis < 0 ? axis + s.Rank : axis;
        if (r < 0 || r >= s.Rank) throw Err(name, op, $"axis {axis} is out of range for {s}");
        return r;
    }

    /// <summary>The output shape of a reduction over <see cref="OpAttrs.Axes"/> (all axes when null).</summary>
    internal static Shape Reduced(Shape s, OpAttrs a, string name, OpKind op)
    {
        var axes = a.Axes ?? Enumerable.Range(0, s.Rank).ToArray();
        var norm = axes.Select(ax => NormAxis(s, ax, name, op)).ToArray();
        if (norm.Distinct().Count() != norm.Length) throw Err(name, op, $"axes [{string.Join(", ", axes)}] repeat");
        var dims = new List<long>();
        for (var i = 0; i < s.Rank; i++)
        {
            if (!norm.Contains(i)) dims.Add(s[i]);
            else if (a.KeepDims) dims.Add(1);
        }
        return new Shape([.. dims]);
    }

    private static ShapeException Err(string name, OpKind op, string what) =>
        new($"node '{name}' ({op}): {what}");
}
