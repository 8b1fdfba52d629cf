using Alpa.Planner.Graph;

namespace Alpa.Planner.Autodiff;

/// <summary>
/// One gradient rule per differentiable op kind: given dL/dy, the gradient with respect to each
/// input (null where an input needs none or has none, e.g. integer ids and labels).
/// </summary>
internal static class GradRules
{
    /// <summary>The rule of <c>c.Node</c>'s op; gradient and optimizer ops have none.</summary>
    public static Node?[] Apply(GradContext c) => c.Node.Op switch
    {
        OpKind.MatMul => MatMul(c),
        OpKind.Add => [c.Needs(0) ? c.SumTo(c.Dy, c.X(0).Shape, "da") : null, c.Needs(1) ? c.SumTo(c.Dy, c.X(1).Shape, "db") : null],
        OpKind.Sub => [c.Needs(0) ? c.SumTo(c.Dy, c.X(0).Shape, "da") : null, c.Needs(1) ? c.SumTo(c.Scale(c.Dy, -1, "neg"), c.X(1).Shape, "db") : null],
        OpKind.Mul => [
            c.Needs(0) ? c.SumTo(c.Op(OpKind.Mul, "da.full", null, c.Dy, c.X(1)), c.X(0).Shape, "da") : null,
            c.Needs(1) ? c.SumTo(c.Op(OpKind.Mul, "db.full", null, c.Dy, c.X(0)), c.X(1).Shape, "db") : null],
        OpKind.Div => Div(c),
        OpKind.Scale => [c.Scale(c.Dy, c.Attrs.Value, "dx")],
        OpKind.Gelu => [c.Op(OpKind.GeluGrad, "dx", null, c.X(0), c.Dy)],
        OpKind.Relu => [c.Op(OpKind.ReluGrad, "dx", null, c.X(0), c.Dy)],
        OpKind.Tanh => [c.Op(OpKind.TanhGrad, "dx", null, c.Y, c.Dy)],
        OpKind.Exp => [c.Op(OpKind.Mul, "dx", null, c.Dy, c.Y)],
        // d√x = dy / (2√x)
        OpKind.Sqrt => [c.Op(OpKind.Div, "dx", null, c.Scale(c.Dy, 0.5, "half"), c.Y)],
        OpKind.Cast => [c.Op(OpKind.Cast, "dx", new OpAttrs { To = c.Node.Inputs[0].DType }, c.Dy)],
        OpKind.CausalMask => [c.Op(OpKind.CausalMask, "dx", new OpAttrs { Value = 0 }, c.Dy)],
        OpKind.Softmax => [c.Op(OpKind.SoftmaxGrad, "dx", null, c.Y, c.Dy)],
        OpKind.LayerNorm => Norm(c, OpKind.LayerNormGradInput, OpKind.LayerNormGradGamma),
        OpKind.BatchNorm => Norm(c, OpKind.BatchNormGradInput, OpKind.BatchNormGradGamma),
        OpKind.Embedding => [c.Op(OpKind.EmbeddingGrad, "dtable", new OpAttrs { Shape = c.X(0).Shape.ToArray() }, c.X(1), c.Dy), null],
        OpKind.CrossEntropy => [c.Op(OpKind.CrossEntropyGrad, "dlogits", null, c.X(0), c.X(1), c.Dy), null],
        OpKind.Reshape => [c.Reshape(c.Dy, c.X(0).Shape, "dx")],
        OpKind.Transpose => [c.Op(OpKind.Transpose, "dx", new OpAttrs { Axes = Inverse(c.Attrs.Axes!) }, c.Dy)],
        OpKind.Slice => [c.Op(OpKind.SliceGrad, "dx", c.Attrs with { Shape = c.X(0).Shape.ToArray() }, c.Dy)],
        OpKind.Concat => Concat(c),
        OpKind.Broadcast => [c.SumTo(c.Dy, c.X(0).Shape, "dx")],
        OpKind.ReduceSum => [ReduceSum(c)],
        OpKind.ReduceMean => [c.Scale(ReduceSum(c), (double)c.Node.Shape.Elements / c.X(0).Shape.Elements, "dx")],
        OpKind.ReduceMax => [c.Op(OpKind.ReduceMaxGrad, "dx", new OpAttrs { Axes = c.Attrs.Axes, KeepDims = c.Attrs.KeepDims }, c.X(0), c.Dy)],
        OpKind.MoeGate => [c.Op(OpKind.MoeGateGrad, "dlogits", new OpAttrs { Capacity = c.Attrs.Capacity }, c.X(0), c.Dy)],
        // dispatch: dx[g,s] = Σ w[g,s,e,c]·dy[e,g,c]; dcombine = Σ_m x·dy (none through a mask)
        OpKind.MoeDispatch => [
            c.Needs(0) ? c.Op(OpKind.MoeCombine, "dx", new OpAttrs { Mask = c.Attrs.Mask }, c.Dy, c.X(1)) : null,
            c.Needs(1) && !c.Attrs.Mask ? c.Op(OpKind.MoeCombineGradWeights, "dcombine", null, c.X(0), c.Dy) : null],
        // combine: dy_in[e,g,c] = Σ_s w[g,s,e,c]·dout[g,s]; dcombine = Σ_m dout·y
        OpKind.MoeCombine => [
            c.Needs(0) ? c.Op(OpKind.MoeDispatch, "dy", new OpAttrs { Mask = c.Attrs.Mask }, c.Dy, c.X(1)) : null,
            c.Needs(1) && !c.Attrs.Mask ? c.Op(OpKind.MoeCombineGradWeights, "dcombine", null, c.Dy, c.X(0)) : null],
        OpKind.Conv2d => [
            c.Needs(0) ? c.Op(OpKind.Conv2dGradInput, "dx", Window(c, c.X(0).Shape), c.Dy, c.X(1)) : null,
            c.Needs(1) ? c.Op(OpKind.Conv2dGradWeight, "dw", Window(c, c.X(1).Shape), c.X(0), c.Dy) : null],
        OpKind.MaxPool => [c.Op(OpKind.MaxPoolGrad, "dx", Window(c, null), c.X(0), c.Dy)],
        OpKind.AvgPool => [c.Op(OpKind.AvgPoolGrad, "dx", Window(c, c.X(0).Shape), c.Dy)],
        _ => throw new NotDifferentiableException(c.Node),
    };

    /// <summary>
    /// C = op(A)·op(B). dA = dC·op(B)ᵀ (stored transposed under TransA); dB = op(A)ᵀ·dC. A 2-D B
    /// shared by a batched A gets the sum over batches: A and dC flattened to 2-D.
    /// </summary>
    private static Node?[] MatMul(GradContext c)
    {
        var (a, b, dy) = (c.X(0), c.X(1), c.Dy);
        bool ta = c.Attrs.TransA, tb = c.Attrs.TransB;
        var shared = b.Shape.Rank == 2 && a.Shape.Rank > 2;
        Node? da = null, db = null;
        if (c.Needs(0))
        {
            if (!ta) da = c.MatMul(dy, b, false, !tb, "da");
            else if (!shared) da = c.MatMul(b, dy, tb, true, "da");
            else da = c.TransposeLast(c.MatMul(dy, b, false, !tb, "daT"), "da");
        }
        if (c.Needs(1))
        {
            if (!shared)
            {
                db = tb ? c.MatMul(dy, a, true, ta, "db") : c.MatMul(a, dy, !ta, false, "db");
            }
            else
            {
                var k = ta ? a.Shape[-2] : a.Shape[-1];
                var aRows = ta ? c.TransposeLast(a, "aT") : a;
                var a2 = c.Reshape(aRows, new Shape(a.Shape.Elements / k, k), "a2");
                var dy2 = c.Reshape(dy, new Shape(dy.Shape.Elements / dy.Shape[-1], dy.Shape[-1]), "dy2");
                db = tb ? c.MatMul(dy2, a2, true, false, "db") : c.MatMul(a2, dy2, true, false, "db");
            }
        }
        return [da, db];
    }

    /// <summary>y = a / b: da = dy / b, db = −dy·y / b.</summary>
    private static Node?[] Div(GradContext c)
    {
        Node? da = null, db = null;
        if (c.Needs(0)) da = c.SumTo(c.Op(OpKind.Div, "da.full", null, c.Dy, c.X(1)), c.X(0).Shape, "da");
        if (c.Needs(1))
        {
            var dyy = c.Op(OpKind.Mul, "dyy", null, c.Dy, c.Y);
            var full = c.Scale(c.Op(OpKind.Div, "db.quot", null, dyy, c.X(1)), -1, "db.full");
            db = c.SumTo(full, c.X(1).Shape, "db");
        }
        return [da, db];
    }

    private static Node?[] Norm(GradContext c, OpKind gradInput, OpKind gradGamma)
    {
        var eps = new OpAttrs { Epsilon = c.Attrs.Epsilon };
        var (x, gamma) = (c.X(0), c.X(1));
        var leading = Enumerable.Range(0, x.Shape.Rank - 1).ToArray();
        return [
            c.Needs(0) ? c.Op(gradInput, "dx", eps, x, gamma, c.Dy) : null,
            c.Needs(1) ? c.Op(gradGamma, "dgamma", eps, x, c.Dy) : null,
            c.Needs(2) ? c.Op(OpKind.ReduceSum, "dbeta", new OpAttrs { Axes = leading }, c.Dy) : null];
    }

    private static Node?[] Concat(GradContext c)
    {
        var axis = c.Node.Shape.Axis(c.Attrs.Axis);
        var grads = new Node?[c.Node.Inputs.Count];
        long offset = 0;
        for (var i = 0; i < grads.Length; i++)
        {
            var size = c.Node.Inputs[i].Shape[axis];
            if (c.Needs(i))
                grads[i] = c.Op(OpKind.Slice, $"d{i}", new OpAttrs { Axis = axis, Start = offset, End = offset + size }, c.Dy);
            offset += size;
        }
        return grads;
    }

    /// <summary>dx = dy with the reduced axes restored as size 1, broadcast to x's shape.</summary>
    private static Node ReduceSum(GradContext c)
    {
        var x = c.X(0);
        var keep = GraphBuilder.Reduced(x.Shape, c.Attrs with { KeepDims = true }, c.Node.Name, c.Node.Op);
        var dy = c.Reshape(c.Dy, keep, "dy");
        return c.Op(OpKind.Broadcast, "dx.full", new OpAttrs { Shape = x.Shape.ToArray() }, dy);
    }

    private static OpAttrs Window(GradContext c, Shape? result) => new()
    {
        Kernel = c.Attrs.Kernel,
        Stride = c.Attrs.Stride,
        Padding = c.Attrs.Padding,
        Shape = result?.ToArray(),
    };

    private static int[] Inverse(int[] perm)
    {
        var inv = new int[perm.Length];
        for (var i = 0; i < perm.Length; i++) inv[perm[i]] = i;
        return inv;
    }
}
