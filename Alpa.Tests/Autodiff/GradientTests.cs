using Alpa.Planner.Graph;

namespace Alpa.Tests.Autodiff;

/// <summary>
/// Every differentiable op kind against central finite differences (see <see cref="GradCheck"/>:
/// h = 1e-5, relative norm error ≤ 1e-6, in float64), plus gradient shapes and dtypes.
/// </summary>
public sealed class GradientTests
{
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    [InlineData(true, true, true)]
    public void MatMul(bool transA, bool transB, bool sharedWeight)
    {
        var t = new TestGraph();
        var a = t.Param("a", transA ? new Shape(2, 3, 4) : new Shape(2, 4, 3));
        var b = t.Param("b", sharedWeight ? (transB ? new Shape(5, 3) : new Shape(3, 5)) : (transB ? new Shape(2, 5, 3) : new Shape(2, 3, 5)));
        t.Check(t.B.MatMul(a, b, transA, transB, "y"));
    }

    [Fact]
    public void MatMul2D()
    {
        var t = new TestGraph();
        t.Check(t.B.MatMul(t.Param("a", new Shape(3, 4)), t.Param("b", new Shape(5, 4)), transB: true, name: "y"));
    }

    [Theory]
    [InlineData(OpKind.Add)]
    [InlineData(OpKind.Sub)]
    [InlineData(OpKind.Mul)]
    [InlineData(OpKind.Div)]
    public void BinaryWithBroadcasting(OpKind op)
    {
        var t = new TestGraph();
        var a = t.Param("a", new Shape(2, 1, 4), 0.5, 1.5);
        var b = t.Param("b", new Shape(3, 1), 0.5, 1.5);
        var c = t.Param("c", new Shape(2, 3, 4), 0.5, 1.5);
        var ab = t.B.Op(op, [a, b], null, "ab");
        t.Check(t.B.Op(op, [c, ab], null, "y"));
    }

    [Theory]
    [InlineData(OpKind.Scale)]
    [InlineData(OpKind.Gelu)]
    [InlineData(OpKind.Tanh)]
    [InlineData(OpKind.Exp)]
    [InlineData(OpKind.Softmax)]
    public void Unary(OpKind op)
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(3, 5), -2, 2);
        t.Check(t.B.Op(op, [x], new OpAttrs { Value = -1.7 }, "y"));
    }

    [Fact]
    public void SqrtOfPositiveValues()
    {
        var t = new TestGraph();
        t.Check(t.B.Sqrt(t.Param("x", new Shape(4, 3), 0.5, 2), "y"));
    }

    [Fact]
    public void ReluAwayFromTheKink()
    {
        var t = new TestGraph();
        var x = t.ParamAwayFromZero("x", new Shape(4, 3));
        var w = t.Param("w", new Shape(3, 2));
        t.Check(t.B.MatMul(t.B.Relu(x, "relu"), w, name: "y"));
    }

    [Fact]
    public void CastRoundTripKeepsDTypes()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 3), dtype: DType.F16);
        var w = t.Param("w", new Shape(3, 4));
        var wh = t.B.Cast(w, DType.BF16, "w.bf16");
        var y = t.B.MatMul(t.B.Cast(x, DType.BF16, "x.bf16"), wh, name: "y");
        t.Check(t.B.Gelu(y, "act"));
    }

    [Fact]
    public void CausalMaskBlocksTheUpperTriangle()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 4, 4));
        var (graph, grads) = t.Check(t.B.Softmax(t.B.CausalMask(x, -1e9, "masked"), "y"));
        Assert.Equal(new Shape(2, 4, 4), grads[graph["x"]].Shape);
    }

    [Fact]
    public void LayerNormInHalfPrecision()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 3, 5), dtype: DType.F16);
        var g = t.Param("gamma", new Shape(5), 0.5, 1.5, DType.F16);
        var b = t.Param("beta", new Shape(5), dtype: DType.F16);
        t.Check(t.B.LayerNorm(x, g, b, 1e-5, "y"));
    }

    [Fact]
    public void BatchNorm()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 3, 3, 4));
        var g = t.Param("gamma", new Shape(4), 0.5, 1.5);
        var b = t.Param("beta", new Shape(4));
        t.Check(t.B.BatchNorm(x, g, b, 1e-5, "y"));
    }

    [Fact]
    public void EmbeddingAndCrossEntropy()
    {
        var t = new TestGraph();
        var table = t.Param("table", new Shape(7, 4));
        var ids = t.Ints("ids", new Shape(2, 5), 7);
        var w = t.Param("w", new Shape(4, 6));
        var labels = t.Ints("labels", new Shape(2, 5), 6);
        var logits = t.B.MatMul(t.B.Embedding(table, ids, "embed"), w, name: "logits");
        var loss = t.B.CrossEntropy(logits, labels, "loss");
        GradCheck.Run(t.B.Build([logits], loss), t.Leaves);
    }

    [Fact]
    public void ShapeOps()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 3, 4));
        var z = t.Param("z", new Shape(2, 2, 4));
        var r = t.B.Reshape(x, new Shape(6, 4), "r");
        var tr = t.B.Op(OpKind.Transpose, [t.B.Reshape(r, new Shape(2, 3, 4), "r2")], new OpAttrs { Axes = [2, 0, 1] }, "tr");
        var s = t.B.Slice(tr, 2, 1, 3, "s");
        var back = t.B.Op(OpKind.Transpose, [s], new OpAttrs { Axes = [1, 2, 0] }, "back");
        var cat = t.B.Concat([back, z, back], 1, "cat");
        var bias = t.Param("bias", new Shape(1, 4));
        var bc = t.B.Broadcast(bias, new Shape(2, 6, 4), "bc");
        t.Check(t.B.Mul(cat, bc, "y"));
    }

    [Theory]
    [InlineData(OpKind.ReduceSum, false)]
    [InlineData(OpKind.ReduceSum, true)]
    [InlineData(OpKind.ReduceMean, false)]
    [InlineData(OpKind.ReduceMean, true)]
    [InlineData(OpKind.ReduceMax, false)]
    [InlineData(OpKind.ReduceMax, true)]
    public void Reductions(OpKind op, bool keepDims)
    {
        var t = new TestGraph();
        var x = t.ParamDistinct("x", new Shape(2, 3, 4));
        var y = t.B.Op(op, [x], new OpAttrs { Axes = [0, 2], KeepDims = keepDims }, "y");
        t.Check(t.B.Tanh(y, "act"));
    }

    [Fact]
    public void ReduceOverAllAxes()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(3, 2));
        t.Check(t.B.Exp(t.B.ReduceMean(x, name: "m"), "y"));
    }

    /// <summary>
    /// A whole GShard MoE layer: gate → dispatch (mask) → per-expert FFN → combine (weights).
    /// Gate logits are a spaced ladder, so ±h never changes the top-2 assignment; capacity 3
    /// for 6 tokens × 2 choices over 3 experts forces drops.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MixtureOfExperts(bool dispatchMask)
    {
        var t = new TestGraph();
        const int g = 2, s = 6, e = 3, c = 3, m = 4;
        var x = t.Param("x", new Shape(g, s, m));
        var logits = t.ParamDistinct("logits", new Shape(g, s, e));
        var we = t.Param("we", new Shape(e, m, m));
        var combine = t.B.MoeGate(logits, c, "gate");
        var dispatched = t.B.MoeDispatch(x, combine, dispatchMask, "dispatch");
        var flat = t.B.Reshape(dispatched, new Shape(e, g * c, m), "flat");
        var h = t.B.Reshape(t.B.MatMul(flat, we, name: "expert"), new Shape(e, g, c, m), "h");
        t.Check(t.B.MoeCombine(h, combine, mask: false, name: "y"));
    }

    [Fact]
    public void MoeCombineThroughAMask()
    {
        var t = new TestGraph();
        var y = t.Param("y", new Shape(3, 2, 2, 4));
        var logits = t.ParamDistinct("logits", new Shape(2, 5, 3));
        var combine = t.B.MoeGate(logits, 2, "gate");
        // Through a mask only y gets a gradient; the gate gets its gradient from the Mul.
        var out1 = t.B.MoeCombine(y, combine, mask: true, name: "out");
        var scale = t.B.Reshape(t.B.ReduceSum(combine, [2, 3], name: "scale.sum"), new Shape(2, 5, 1), "scale");
        t.Check(t.B.Mul(out1, scale, "weighted.out"));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    public void Conv2d(int stride, int padding)
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 5, 5, 3));
        var w = t.Param("w", new Shape(3, 3, 3, 4));
        t.Check(t.B.Conv2d(x, w, stride, padding, "y"));
    }

    [Fact]
    public void MaxPoolOnDistinctValues()
    {
        var t = new TestGraph();
        var x = t.ParamDistinct("x", new Shape(1, 5, 5, 2), 0.05);
        t.Check(t.B.MaxPool(x, kernel: 3, stride: 2, padding: 1, name: "y"));
    }

    [Fact]
    public void AvgPoolWithPadding()
    {
        var t = new TestGraph();
        var x = t.Param("x", new Shape(2, 4, 4, 2));
        t.Check(t.B.AvgPool(x, kernel: 3, stride: 2, padding: 1, name: "y"));
    }
}
