using System.Diagnostics;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Models;

namespace Alpa.Tests.Models;

public sealed class ModelZooTests
{
    [Theory]
    [InlineData("gpt-1.3b", 1.31e9)]
    [InlineData("gpt-2.6b", 2.65e9)]
    [InlineData("gpt-6.7b", 6.65e9)]
    [InlineData("gpt-39b", 39.1e9)]
    [InlineData("moe-10b", 10.2e9)]
    [InlineData("moe-380m", 380e6)]
    [InlineData("wresnet-2b", 1.97e9)]
    public void ParameterCountsMatchThePaper(string name, double expected)
    {
        var p = ModelZoo.Get(name).Build().ParameterCount;
        Assert.InRange(p / expected, 0.98, 1.02);
    }

    [Theory]
    [InlineData("gpt-350m")]
    [InlineData("gpt-1.3b")]
    [InlineData("gpt-2.6b")]
    [InlineData("gpt-6.7b")]
    [InlineData("gpt-15b")]
    [InlineData("gpt-39b")]
    public void GptRematFlopsMatchTheMegatronFormula(string name)
    {
        var spec = (GptSpec)ModelZoo.Get(name);
        var g = Alpa.Planner.Training.TrainingGraph.Build(spec.Build(), new Alpa.Planner.Training.TrainingOptions { Remat = true });
        double b = spec.Batch, s = spec.SeqLen, h = spec.Hidden, l = spec.Layers, v = spec.Vocab;
        Assert.Equal(1024, spec.Batch);
        Assert.Equal(1024, spec.SeqLen);
        Assert.Equal(51200, spec.Vocab);
        var expected = 96 * b * s * h * h * l * (1 + s / (6 * h)) + 6 * b * s * h * v;
        // Every matmul the training step executes: forward, recomputation and backward.
        var remat = g.Nodes.Where(n => OpCosts.IsMatmulClass(n.Op)).Sum(n => n.Flops);
        Assert.InRange(remat / expected, 0.95, 1.05);
    }

    [Fact]
    public void EveryBuiltInModelBuildsWithLayersMarked()
    {
        Assert.True(ModelZoo.Names.Count >= 27);
        foreach (var name in ModelZoo.Names)
        {
            var spec = ModelZoo.Get(name);
            var g = spec.Build(batchOverride: name.EndsWith("tiny", StringComparison.Ordinal) || name == "mlp" ? null : 8);
            Assert.NotNull(g.Loss);
            Assert.Equal(DType.F32, g.Loss!.DType);
            Assert.All(g.Nodes, n => Assert.InRange(n.Layer, 0, spec.LayerCount - 1));
            Assert.Equal(spec.LayerCount - 1, g.Loss.Layer);
            Assert.All(g.Parameters, p => Assert.Equal(spec.DType, p.DType));
        }
    }

    [Fact]
    public void PaperModelsUseThePaperSettings()
    {
        Assert.Equal(DType.F16, ModelZoo.Get("gpt-39b").DType);
        Assert.Equal(DType.F16, ModelZoo.Get("moe-70b").DType);
        var wrn = (WResNetSpec)ModelZoo.Get("wresnet-13b");
        Assert.Equal((DType.F32, 1536, 224, 1024), (wrn.DType, wrn.Batch, wrn.ImageSize, wrn.Classes));
        Assert.Equal([3, 4, 23, 3], wrn.Stages);
        var moe = (MoeSpec)ModelZoo.Get("moe-10b");
        Assert.Equal((1024, 1024, 32000, 32, 2048), (moe.Batch, moe.SeqLen, moe.Vocab, moe.Experts, moe.ExpertGroupSize));
    }

    [Fact]
    public void GptTinyHasTheDocumentedNamesAndShapes()
    {
        var g = ModelZoo.Get("gpt-tiny").Build();
        Assert.Equal(new Shape(256, 64), g["wte"].Shape);
        Assert.Equal(new Shape(32, 64), g["wpe"].Shape);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(new Shape(64, 192), g[$"layers.{i}.attn.qkv.weight"].Shape);
            Assert.Equal(new Shape(192), g[$"layers.{i}.attn.qkv.bias"].Shape);
            Assert.Equal(new Shape(64, 64), g[$"layers.{i}.attn.out.weight"].Shape);
            Assert.Equal(new Shape(64, 256), g[$"layers.{i}.mlp.fc1.weight"].Shape);
            Assert.Equal(new Shape(256, 64), g[$"layers.{i}.mlp.fc2.weight"].Shape);
            Assert.Equal(new Shape(64), g[$"layers.{i}.ln1.gamma"].Shape);
            Assert.Equal(new Shape(64), g[$"layers.{i}.ln2.beta"].Shape);
            Assert.Equal(i + 1, g[$"layers.{i}.attn.qkv"].Layer);
        }
        Assert.Equal(new Shape(64), g["ln_f.gamma"].Shape);
        Assert.Equal(new Shape(16, 32), g["tokens"].Shape);
        Assert.Equal(DType.I32, g["labels"].DType);
        Assert.True(g["lm_head"].Attrs.TransB);
        Assert.Same(g["wte"], g["lm_head"].Inputs[1]);
        Assert.Equal(new Shape(16, 4, 32, 32), g["layers.0.attn.scores"].Shape);
        Assert.Equal(0, g["wte"].Layer);
        Assert.Equal(5, g["loss"].Layer);
    }

    [Fact]
    public void MoeTinyRoutesEveryOddBlockThroughExperts()
    {
        var spec = (MoeSpec)ModelZoo.Get("moe-tiny");
        var g = spec.Build();
        Assert.Equal(new Shape(64, 512), g["layers.0.mlp.fc1.weight"].Shape);   // F = 8h for dense blocks too
        Assert.False(g.TryGet("layers.0.moe.gate.weight", out _));
        Assert.Equal(new Shape(64, 4), g["layers.1.moe.gate.weight"].Shape);
        Assert.Equal(new Shape(4, 64, 512), g["layers.1.moe.experts.fc1.weight"].Shape);
        Assert.Equal(new Shape(4, 512, 64), g["layers.3.moe.experts.fc2.weight"].Shape);
        // 512 tokens in groups of 64: G = 8, C = 2·64/4 = 32.
        Assert.Equal(new Shape(8, 64, 4, 32), g["layers.1.moe.route"].Shape);
        Assert.Equal(new Shape(4, 8, 32, 64), g["layers.1.moe.dispatch"].Shape);
        Assert.Equal(32, g["layers.1.moe.route"].Attrs.Capacity);
    }

    [Fact]
    public void MoeGroupShrinksForSmallMicrobatches()
    {
        var spec = (MoeSpec)ModelZoo.Get("moe-380m");
        var g = spec.Build(batchOverride: 1);   // 1024 tokens < 2048
        Assert.Equal(new Shape(1, 1024, 8, 256), g["layers.1.moe.route"].Shape);
    }

    [Fact]
    public void WResNetTinyHasTwoBottleneckBlocks()
    {
        var spec = (WResNetSpec)ModelZoo.Get("wresnet-tiny");
        var g = spec.Build();
        Assert.Equal(4, spec.LayerCount);
        Assert.Equal(new Shape(7, 7, 3, 8), g["stem.conv.weight"].Shape);
        Assert.Equal(new Shape(3, 3, 8, 16), g["layers.0.conv2.weight"].Shape);  // width factor on the 3×3 conv
        Assert.Equal(new Shape(1, 1, 16, 32), g["layers.0.conv3.weight"].Shape);
        Assert.Equal(new Shape(1, 1, 8, 32), g["layers.0.proj.weight"].Shape);
        Assert.Equal(new Shape(3, 3, 16, 32), g["layers.1.conv2.weight"].Shape);
        Assert.Equal(new Shape(16, 2, 2, 64), g["layers.1.relu3"].Shape);
        Assert.Equal(new Shape(64, 10), g["head.weight"].Shape);
        Assert.Equal(new Shape(16, 16, 16, 3), g["images"].Shape);
        Assert.Equal(new Shape(16), g["labels"].Shape);
    }

    [Fact]
    public void MlpHasTheDocumentedNames()
    {
        var g = ModelZoo.Get("mlp").Build();
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(new Shape(64, 256), g[$"layers.{i}.fc1.weight"].Shape);
            Assert.Equal(new Shape(256, 64), g[$"layers.{i}.fc2.weight"].Shape);
            Assert.Equal(new Shape(256), g[$"layers.{i}.fc1.bias"].Shape);
        }
        Assert.Equal(new Shape(32, 64), g["x"].Shape);
        Assert.Equal(new Shape(32), g["labels"].Shape);
        Assert.Equal(4 * (64 * 256 + 256 + 256 * 64 + 64) + 64 * 10 + 10, g.ParameterCount);
    }

    [Fact]
    public void BatchOverrideBuildsMicrobatchGraphs()
    {
        var g = ModelZoo.Get("gpt-tiny").Build(batchOverride: 4);
        Assert.Equal(new Shape(4, 32), g["tokens"].Shape);
        Assert.Throws<ModelSpecException>(() => ModelZoo.Get("gpt-tiny").Build(batchOverride: 0));
    }

    [Fact]
    public void UnknownNameListsTheKnownModels()
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelZoo.Get("gpt-13b"));
        Assert.Contains("gpt-13b", e.Message, StringComparison.Ordinal);
        Assert.Contains("gpt-39b", e.Message, StringComparison.Ordinal);
        Assert.Contains("wresnet-tiny", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Gpt39bForwardGraphBuildsQuicklyAndSmall()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        var g = ModelZoo.Get("gpt-39b").Build();
        sw.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.InRange(g.Nodes.Count, 1000, 20000);
        Assert.InRange(sw.Elapsed.TotalSeconds, 0, 10);
        Assert.InRange(allocated, 0, 1L << 30);
    }
}
