using Alpa.Planner;
using Alpa.Planner.Graph;

namespace Alpa.Tests.Planner;

public sealed class GraphBuilderTests
{
    [Fact]
    public void MatMulInfersBatchedShapeAndFlops()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(2, 3, 4, 5));
        var w = b.Parameter("w", new Shape(5, 6));
        var y = b.MatMul(x, w, name: "y");
        Assert.Equal(new Shape(2, 3, 4, 6), y.Shape);
        Assert.Equal(2.0 * 2 * 3 * 4 * 6 * 5, y.Flops);
    }

    [Fact]
    public void ShapeMismatchIsCaughtWhenTheNodeIsBuilt()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(4, 5));
        var w = b.Parameter("w", new Shape(6, 7));
        var e = Assert.Throws<ShapeException>(() => b.MatMul(x, w, name: "fc"));
        Assert.Contains("fc", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NodesOfAnotherGraphAreRefused()
    {
        var b1 = new GraphBuilder();
        var b2 = new GraphBuilder();
        var x = b1.Input("x", new Shape(3));
        Assert.Throws<ShapeException>(() => b2.Relu(x));
    }

    [Fact]
    public void NamesAreScopedAndUnique()
    {
        var b = new GraphBuilder();
        using (b.Scope("layers.0"))
        {
            var x = b.Input("x", new Shape(3));
            var r1 = b.Relu(x, "act");
            var r2 = b.Relu(r1, "act");
            Assert.Equal("layers.0.act", r1.Name);
            Assert.Equal("layers.0.act#1", r2.Name);
        }
    }
}
