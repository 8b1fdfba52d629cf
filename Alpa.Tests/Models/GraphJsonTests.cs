using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Models;

namespace Alpa.Tests.Models;

public sealed class GraphJsonTests
{
    [Theory]
    [InlineData("gpt-tiny")]
    [InlineData("moe-tiny")]
    [InlineData("wresnet-tiny")]
    [InlineData("mlp")]
    public void RoundTripKeepsEveryNode(string model)
    {
        var g = ModelZoo.Get(model).Build();
        var back = GraphJson.Read(GraphJson.Write(g));
        AssertSameGraph(g, back);
        Assert.Equal(GraphJson.Write(g), GraphJson.Write(back));
    }

    [Fact]
    public void RoundTripKeepsUpdatesPhasesAndSpecialNumbers()
    {
        var b = new GraphBuilder();
        var p = b.Parameter("w", new Shape(4, 3), DType.F32, InitKind.Normal, 0.5);
        var m = b.State("m", new Shape(4, 3));
        b.Phase = Phase.Update;
        b.Layer = 2;
        var next = b.Op(OpKind.AdamMoment, [m, p], new OpAttrs { Beta = 0.9 }, "m.next");
        var fill = b.CausalMask(p, double.NegativeInfinity, "masked");
        var g = b.Build([fill], null, [new Update(m, next)]);
        var back = GraphJson.Read(GraphJson.Write(g, indented: true));
        AssertSameGraph(g, back);
        Assert.Single(back.Updates);
        Assert.Equal("m", back.Updates[0].Target.Name);
        Assert.Null(back.Loss);
        Assert.Equal(double.NegativeInfinity, back["masked"].Attrs.Value);
    }

    [Fact]
    public void OnlyNonDefaultAttrsAreWritten()
    {
        var json = GraphJson.Write(ModelZoo.Get("gpt-tiny").Build());
        Assert.Contains("\"trans_b\":true", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"trans_a\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"stride\"", json, StringComparison.Ordinal);
        Assert.Contains("\"op\":\"matmul\"", json, StringComparison.Ordinal);
        Assert.Contains("\"op\":\"layer_norm\"", json, StringComparison.Ordinal);
    }

    private const string Head = """{"format":"alpa-graph","version":1,"nodes":[""";

    private static string Leaf(int id, string name, string shape, string dtype = "f32", string op = "input") =>
        $$"""{"id":{{id}},"op":"{{op}}","name":"{{name}}","shape":{{shape}},"dtype":"{{dtype}}"}""";

    [Fact]
    public void SmallHandWrittenGraphReads()
    {
        var json = Head + Leaf(0, "x", "[2,3]") + "," + Leaf(1, "w", "[3,4]", op: "parameter")
            + """,{"id":2,"op":"matmul","name":"y","inputs":[0,1],"layer":0}],"outputs":[2],"loss":null,"updates":[]}""";
        var g = GraphJson.Read(json);
        Assert.Equal(new Shape(2, 4), g["y"].Shape);
        Assert.Equal(2.0 * 2 * 4 * 3, g["y"].Flops);
    }

    [Theory]
    [InlineData("""{"format":"onnx","version":1,"nodes":[]}""", "format", "alpa-graph")]
    [InlineData("""{"format":"alpa-graph","version":2,"nodes":[]}""", "version", "not supported")]
    [InlineData("""{"format":"alpa-graph","nodes":[]}""", "version", "missing")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"frobnicate","name":"x"}]}""", "nodes[0].op", "unknown op kind")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"input","name":"x","shape":[2],"dtype":"f32"},{"id":1,"op":"relu","name":"y","inputs":[7]}]}""", "nodes[1].inputs[0]", "node 7 does not exist yet")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"input","name":"x","shape":[2]}]}""", "nodes[0].dtype", "needs its dtype")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"input","name":"x","shape":[2],"dtype":"f32","attrs":{"kernal":3}}]}""", "nodes[0].attrs.kernal", "unknown attribute")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"input","name":"x","shape":[2],"dtype":"f32"},{"id":1,"op":"relu","name":"y","inputs":[0],"shape":[3]}]}""", "nodes[1].shape", "[3]")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"input","name":"x","shape":[2],"dtype":"f32"},{"id":0,"op":"relu","name":"y","inputs":[0]}]}""", "nodes[1].id", "twice")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[{"id":0,"op":"input","name":"x","shape":[2],"dtype":"f32"},{"id":1,"op":"relu","name":"x","inputs":[0]}]}""", "nodes[1].name", "already used")]
    [InlineData("""{"format":"alpa-graph","version":1,"nodes":[],"loss":3}""", "loss", "does not exist")]
    public void BadGraphFilesNameTheField(string json, string field, string what)
    {
        var e = Assert.Throws<ModelSpecException>(() => GraphJson.Read(json));
        Assert.Equal(field, e.Field);
        Assert.StartsWith(field + ":", e.Message, StringComparison.Ordinal);
        Assert.Contains(what, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ShapeMismatchInAGraphFileNamesTheNode()
    {
        var json = Head + Leaf(0, "x", "[2,3]") + "," + Leaf(1, "w", "[5,4]", op: "parameter")
            + """,{"id":2,"op":"matmul","name":"fc","inputs":[0,1]}],"outputs":[2]}""";
        var e = Assert.Throws<ModelSpecException>(() => GraphJson.Read(json));
        Assert.Equal("nodes[2]", e.Field);
        Assert.Contains("fc", e.Message, StringComparison.Ordinal);
        Assert.Contains("contraction", e.Message, StringComparison.Ordinal);
        Assert.IsType<ShapeException>(e.InnerException);
    }

    private static void AssertSameGraph(Graph a, Graph b)
    {
        Assert.Equal(a.Nodes.Count, b.Nodes.Count);
        for (var i = 0; i < a.Nodes.Count; i++)
        {
            var (x, y) = (a.Nodes[i], b.Nodes[i]);
            Assert.Equal((x.Op, x.Name, x.DType, x.Layer, x.Phase), (y.Op, y.Name, y.DType, y.Layer, y.Phase));
            Assert.Equal(x.Shape, y.Shape);
            Assert.Equal(x.Attrs, y.Attrs);
            Assert.Equal(x.Flops, y.Flops);
            Assert.Equal(x.Inputs.Select(n => n.Id), y.Inputs.Select(n => n.Id));
        }
        Assert.Equal(a.Outputs.Select(n => n.Id), b.Outputs.Select(n => n.Id));
        Assert.Equal(a.Loss?.Id, b.Loss?.Id);
        Assert.Equal(a.Flops, b.Flops);
        Assert.Equal(a.ParameterCount, b.ParameterCount);
    }
}
