using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Models;

namespace Alpa.Tests.Models;

public sealed class ModelJsonTests
{
    [Fact]
    public void MlpSpecFromJsonBuilds()
    {
        var spec = ModelSpecJson.Parse("""{"family":"mlp","hidden":32,"ffn":128,"layers":2,"batch":8}""");
        var mlp = Assert.IsType<MlpSpec>(spec);
        Assert.Equal((32, 128, 2, 8, DType.F32), (mlp.Hidden, mlp.Ffn, mlp.Layers, mlp.Batch, mlp.DType));
        Assert.Equal(new Shape(32, 128), spec.Build()["layers.1.fc1.weight"].Shape);
    }

    [Fact]
    public void EveryFamilyParses()
    {
        var gpt = ModelSpecJson.Parse("""{"family":"gpt","name":"g","layers":2,"hidden":64,"heads":4,"seq_len":16,"vocab":100,"batch":4,"dtype":"bf16"}""");
        Assert.Equal(DType.BF16, gpt.DType);
        Assert.Equal("g", gpt.Name);
        var moe = (MoeSpec)ModelSpecJson.Parse("""{"family":"moe","layers":2,"hidden":64,"heads":4,"seq_len":16,"vocab":100,"experts":4,"expert_group_size":32,"batch":4}""");
        Assert.Equal(32, moe.ExpertGroupSize);
        var wrn = (WResNetSpec)ModelSpecJson.Parse("""{"family":"wresnet","layers":50,"base_channels":8,"width_factor":2,"image_size":32,"classes":10,"batch":2}""");
        Assert.Equal([3, 4, 6, 3], wrn.Stages);
        var wrn2 = (WResNetSpec)ModelSpecJson.Parse("""{"family":"wresnet","stages":[1,1],"base_channels":8,"width_factor":2,"image_size":16,"classes":10,"batch":2}""");
        foreach (var s in new ModelSpec[] { gpt, moe, wrn, wrn2 }) Assert.NotNull(s.Build().Loss);
    }

    [Fact]
    public void BaseWithOverrides()
    {
        var spec = ModelSpecJson.Parse("""{"base":"gpt-1.3b","batch":64,"name":"small-batch"}""");
        var gpt = Assert.IsType<GptSpec>(spec);
        Assert.Equal((64, 2048, "small-batch"), (gpt.Batch, gpt.Hidden, gpt.Name));
    }

    [Theory]
    [InlineData("""{"family":"mlp","hidden":-64,"ffn":256,"layers":4,"batch":32}""", "hidden", "positive integer")]
    [InlineData("""{"family":"mlp","hidden":"wide","ffn":256,"layers":4,"batch":32}""", "hidden", "positive integer")]
    [InlineData("""{"family":"mlp","hidden":64,"layers":4,"batch":32}""", "ffn", "missing")]
    [InlineData("""{"family":"mlp","hidden":64,"ffn":256,"layers":4,"batch":32,"hiden":3}""", "hiden", "unknown field")]
    [InlineData("""{"family":"gpt","layers":2,"hidden":64,"heads":5,"seq_len":16,"vocab":100,"batch":4}""", "heads", "divide")]
    [InlineData("""{"family":"rnn","batch":4}""", "family", "unknown family")]
    [InlineData("""{"hidden":64}""", "family", "missing")]
    [InlineData("""{"family":"mlp","hidden":64,"ffn":256,"layers":4,"batch":32,"dtype":"i32"}""", "dtype", "f32")]
    [InlineData("""{"family":"moe","layers":2,"hidden":64,"heads":4,"seq_len":16,"vocab":100,"experts":1,"batch":4}""", "experts", "at least 2")]
    [InlineData("""{"family":"wresnet","layers":34,"base_channels":8,"width_factor":2,"batch":2}""", "layers", "50")]
    [InlineData("""{"family":"wresnet","stages":[1,0],"base_channels":8,"width_factor":2,"batch":2}""", "stages[1]", "positive")]
    [InlineData("""{"base":"gpt-9z"}""", "base", "unknown model")]
    public void BadSpecsNameTheField(string json, string field, string what)
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpecJson.Parse(json));
        Assert.Equal(field, e.Field);
        Assert.StartsWith(field + ":", e.Message, StringComparison.Ordinal);
        Assert.Contains(what, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedJsonSaysWhere()
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpecJson.Parse("{\"family\": \"mlp\",\n \"hidden\": }"));
        Assert.Contains("malformed JSON at line 2", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void ResolveTakesNamesAndJsonText()
    {
        Assert.Equal("gpt-tiny", ModelZoo.Resolve("gpt-tiny").Name);
        Assert.IsType<MlpSpec>(ModelZoo.Resolve("""{"family":"mlp","hidden":8,"ffn":8,"layers":1,"batch":2}"""));
        Assert.Throws<ModelSpecException>(() => ModelZoo.Resolve("gpt-nope"));
    }

    [Fact]
    public void GraphFileIsAModel()
    {
        var json = GraphJson.Write(ModelZoo.Get("mlp").Build());
        var spec = Assert.IsType<GraphSpec>(ModelSpecJson.Parse(json));
        Assert.Equal(32, spec.Batch);
        Assert.Equal(ModelZoo.Get("mlp").Build().ParameterCount, spec.Build().ParameterCount);
        Assert.Throws<ModelSpecException>(() => spec.Build(batchOverride: 4));
    }
}
