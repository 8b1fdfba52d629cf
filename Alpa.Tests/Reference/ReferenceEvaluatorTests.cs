using Alpa.Planner.Graph;

namespace Alpa.Tests.Reference;

/// <summary>Hand-computed checks of the oracle itself.</summary>
public sealed class ReferenceEvaluatorTests
{
    private static RefTensor T(Shape s, params double[] v) => new(s, v);

    [Fact]
    public void MatMulHandlesTransposesAndASharedWeight()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(2, 1, 2));
        var w = b.Parameter("w", new Shape(3, 2));
        var y = b.MatMul(x, w, transB: true, name: "y");
        var g = b.Build([y]);
        var v = ReferenceEvaluator.Evaluate(g, new Dictionary<string, RefTensor>
        {
            ["x"] = T(x.Shape, 1, 2, 3, 4),
            ["w"] = T(w.Shape, 1, 0, 0, 1, 1, 1),
        });
        Assert.Equal([1, 2, 3, 3, 4, 7], v[y].Data);
    }

    [Fact]
    public void ConvolutionPadsWithZeros()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(1, 3, 3, 1));
        var w = b.Parameter("w", new Shape(3, 3, 1, 1));
        var y = b.Conv2d(x, w, stride: 2, padding: 1, name: "y");
        var g = b.Build([y]);
        var v = ReferenceEvaluator.Evaluate(g, new Dictionary<string, RefTensor>
        {
            ["x"] = T(x.Shape, 1, 2, 3, 4, 5, 6, 7, 8, 9),
            ["w"] = RefTensor.Filled(w.Shape, 1),
        });
        // Outputs centred at (0,0), (0,2), (2,0), (2,2): sums of the in-range 2×2 corners.
        Assert.Equal([1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9], v[y].Data);
    }

    [Fact]
    public void PoolingTreatsPaddingAsDocumented()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(1, 2, 2, 1));
        var avg = b.AvgPool(x, kernel: 2, stride: 2, padding: 1, name: "avg");
        var max = b.MaxPool(x, kernel: 2, stride: 2, padding: 1, name: "max");
        var g = b.Build([avg, max]);
        var v = ReferenceEvaluator.Evaluate(g, new Dictionary<string, RefTensor> { ["x"] = T(x.Shape, -1, -2, -3, -4) });
        Assert.Equal([-0.25, -0.5, -0.75, -1.0], v[avg].Data);
        Assert.Equal([-1.0, -2, -3, -4], v[max].Data);
    }

    [Fact]
    public void MoeGateGivesSlotsInTokenOrderAndDropsPastCapacity()
    {
        var b = new GraphBuilder();
        var logits = b.Input("logits", new Shape(1, 2, 3));
        var combine = b.MoeGate(logits, capacity: 1, name: "gate");
        var g = b.Build([combine]);
        // Both tokens rank expert 0 first, expert 1 second.
        var l = T(logits.Shape, 2, 1, 0, 3, 1, 0);
        var v = ReferenceEvaluator.Evaluate(g, new Dictionary<string, RefTensor> { ["logits"] = l })[combine];
        var w1 = 1 / (1 + Math.Exp(-1.0));
        Assert.Equal(w1, v[0, 0, 0, 0], 12);
        Assert.Equal(1 - w1, v[0, 0, 1, 0], 12);
        // Token 1: both experts are full.
        Assert.All(new[] { v[0, 1, 0, 0], v[0, 1, 1, 0], v[0, 1, 2, 0] }, z => Assert.Equal(0.0, z));
    }

    [Fact]
    public void CrossEntropyOfUniformLogitsIsLogV()
    {
        var b = new GraphBuilder();
        var logits = b.Input("logits", new Shape(2, 5));
        var labels = b.Input("labels", new Shape(2), DType.I32);
        var loss = b.CrossEntropy(logits, labels, name: "loss");
        var g = b.Build([loss], loss);
        var v = ReferenceEvaluator.Evaluate(g, new Dictionary<string, RefTensor>
        {
            ["logits"] = RefTensor.Filled(logits.Shape, 0.3),
            ["labels"] = T(labels.Shape, 1, 4),
        });
        Assert.Equal(Math.Log(5), v[loss].Value, 12);
    }

    [Fact]
    public void ReduceAndTransposeFollowTheirAxes()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(2, 3));
        var t = b.Op(OpKind.Transpose, [x], new OpAttrs { Axes = [1, 0] }, "t");
        var s = b.ReduceSum(x, [0], name: "s");
        var m = b.ReduceMax(x, [1], keepDims: true, name: "m");
        var g = b.Build([t, s, m]);
        var v = ReferenceEvaluator.Evaluate(g, new Dictionary<string, RefTensor> { ["x"] = T(x.Shape, 1, 5, 3, 4, 2, 6) });
        Assert.Equal([1, 4, 5, 2, 3, 6], v[t].Data);
        Assert.Equal([5, 7, 9], v[s].Data);
        Assert.Equal(new Shape(2, 1), v[m].Shape);
        Assert.Equal([5, 6], v[m].Data);
    }
}
