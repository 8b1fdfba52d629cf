using Alpa.Planner.Baselines;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;

namespace Alpa.Tests.Baselines;

public sealed class BaselineGridTests
{
    [Fact]
    public void EqualStagesSplitTheBlocksAndKeepEmbeddingAndHeadAtTheEnds()
    {
        Assert.Equal([(0, 2), (3, 5)], BaselineGrid.EqualStages(4, 2));
        Assert.Equal([(0, 5)], BaselineGrid.EqualStages(4, 1));
        Assert.Equal([(0, 1), (2, 2), (3, 3), (4, 5)], BaselineGrid.EqualStages(4, 4));
    }

    [Fact]
    public void MegatronTensorDegreeStaysInsideAHostAndDegreesCoverTheCluster()
    {
        var points = BaselineGrid.Points(BaselineMethod.Megatron, 2, 4, 8, 64);
        Assert.NotEmpty(points);
        Assert.All(points, p =>
        {
            Assert.True(p.Tensor <= 4, p.ToString());
            Assert.Equal(8, p.Data * p.Tensor * p.Pipeline);
            Assert.Equal(0, 64 / p.Microbatches % p.Data);
        });
        Assert.Contains(points, p => p.Pipeline == 8);
        Assert.Contains(points, p => p.Tensor == 4 && p.Data == 2);
    }

    [Fact]
    public void MethodsParseByName()
    {
        foreach (var m in Enum.GetValues<BaselineMethod>()) Assert.Equal(m, BaselineGrid.Parse(BaselineGrid.Name(m)));
        Assert.Null(BaselineGrid.Parse("alpa"));
    }
}

public sealed class BaselineFamilyTests
{
    private static readonly ModelSpec Gpt = ModelZoo.Get("gpt-tiny");

    /// <summary>The output spec of a strategy id "in,in→out|collectives".</summary>
    private static string OutputOf(string id)
    {
        var arrow = id.IndexOf('→', StringComparison.Ordinal);
        var end = id.IndexOf('|', StringComparison.Ordinal);
        return end < 0 ? id[(arrow + 1)..] : id[(arrow + 1)..end];
    }

    private static List<string> Dims(string spec)
    {
        var dims = new List<string>();
        for (var i = 0; i < spec.Length;)
        {
            if (spec[i] == 'R') { dims.Add("R"); i++; continue; }
            var len = spec.Length >= i + 3 && spec.Substring(i, 3) == "S01" ? 3 : 2;
            dims.Add(spec.Substring(i, len));
            i += len;
        }
        return dims;
    }

    [Fact]
    public void DataParallelReplicatesParametersAndSplitsOnlyTheBatch()
    {
        var r = BaselinePlanner.Plan(BaselineMethod.Data, Gpt, BuiltInClusters.P3(1, 4));
        Assert.False(r.Oom);
        var plan = r.Best!.Result!.Plan;
        var stage = Assert.Single(plan.Stages);
        Assert.Equal(new(4, 1), stage.LogicalMesh);
        Assert.All(stage.ParameterSpecs, p => Assert.All(p.Value, d => Assert.Equal("R", d)));
        var roles = TensorRoles.Detect(Gpt, new TrainingOptions { Remat = r.Best.Remat });
        var batchSplit = 0;
        foreach (var (name, id) in stage.Strategies)
        {
            var dims = Dims(OutputOf(id));
            var batch = roles.BatchDim(name);
            for (var d = 0; d < dims.Count; d++)
                if (dims[d] != "R") Assert.True(d == batch, $"{name}: {id} splits dim {d}, batch dim is {batch}");
            if (batch >= 0 && dims[batch] == "S0") batchSplit++;
        }
        Assert.True(batchSplit > stage.Strategies.Count / 2, $"only {batchSplit} of {stage.Strategies.Count} heavy ops split the batch");
    }

    [Fact]
    public void Zero3ShardsParametersOverTheDataAxis()
    {
        var r = BaselinePlanner.Plan(BaselineMethod.Zero3, Gpt, BuiltInClusters.P3(1, 2));
        var stage = Assert.Single(r.Best!.Result!.Plan.Stages);
        Assert.Contains(stage.ParameterSpecs, p => p.Value.Contains("S0"));
        Assert.DoesNotContain(stage.ParameterSpecs, p => p.Value.Contains("S1"));
    }

    [Fact]
    public void HalfPrecisionZero2AndZero3DifferAsTheirStagesSay()
    {
        // In half precision the optimizer runs on fp32 master states: ZeRO is enforced on the leaves.
        var model = new GptSpec { Name = "gpt-tiny-f16", Batch = 16, DType = Alpa.Planner.Graph.DType.F16, Layers = 2, Hidden = 64, Heads = 4, SeqLen = 32, Vocab = 256 };
        var zero2 = BaselinePlanner.Plan(BaselineMethod.Zero2, model, BuiltInClusters.P3(1, 2)).Best!.Result!.Plan;
        var zero3 = BaselinePlanner.Plan(BaselineMethod.Zero3, model, BuiltInClusters.P3(1, 2)).Best!.Result!.Plan;
        Assert.All(zero2.Stages.Single().ParameterSpecs, p => Assert.DoesNotContain("S0", p.Value));
        Assert.Contains(zero3.Stages.Single().ParameterSpecs, p => p.Value.Contains("S0"));
        Assert.True(zero3.StepSeconds > zero2.StepSeconds, $"ZeRO-3 {zero3.StepSeconds} s vs ZeRO-2 {zero2.StepSeconds} s: gathering weights before use costs time");
    }

    [Fact]
    public void DeepSpeedShardsExpertsOverTheDataAxisAndKeepsZero2StorageReplicated()
    {
        var r = BaselinePlanner.Plan(BaselineMethod.DeepSpeed, ModelZoo.Get("moe-tiny"), BuiltInClusters.P3(1, 4));
        var zero2 = r.Grid.First(o => o.Point is { Zero: ZeroStage.Two, Tensor: 1 } && !o.Oom);
        var specs = Assert.Single(zero2.Result!.Plan.Stages).ParameterSpecs;
        var experts = specs.Where(p => p.Key.Contains(".experts.", StringComparison.Ordinal)).ToArray();
        Assert.NotEmpty(experts);
        Assert.All(experts, p => Assert.Equal("S0", p.Value[0]));
        Assert.All(specs.Except(experts), p => Assert.DoesNotContain("S0", p.Value));
    }

    [Fact]
    public void MegatronPlansKeepTensorGroupsInsideHostsAndStagesEqual()
    {
        var cluster = BuiltInClusters.P3(2, 2);
        var r = BaselinePlanner.Plan(BaselineMethod.Megatron, Gpt, cluster);
        Assert.False(r.Oom);
        Assert.Contains(r.Grid, o => o.Point.Tensor == 2 && !o.Oom);
        foreach (var o in r.Grid.Where(o => !o.Oom))
        {
            var plan = o.Result!.Plan;
            Assert.Equal(o.Point.Pipeline, plan.Stages.Count);
            Assert.Equal(BaselineGrid.EqualStages(4, o.Point.Pipeline), plan.Stages.Select(s => (s.FirstLayer, s.LastLayer)).ToList());
            foreach (var s in plan.Stages)
            {
                Assert.Equal(new(o.Point.Data, o.Point.Tensor), s.LogicalMesh);
                for (var g = 0; g < s.Devices.Count; g += o.Point.Tensor)
                    Assert.Single(s.Devices.Skip(g).Take(o.Point.Tensor).Select(d => d / cluster.DevicesPerHost).Distinct());
            }
        }
    }

    [Fact]
    public void HeuristicShardsTheLargestDimensionOfEveryHeavyOp()
    {
        var r = BaselinePlanner.Plan(BaselineMethod.Heuristic, ModelZoo.Get("mlp"), BuiltInClusters.P3(1, 2));
        var stage = Assert.Single(r.Best!.Result!.Plan.Stages);
        Assert.Contains(stage.Strategies, s => OutputOf(s.Value).Contains("S0", StringComparison.Ordinal));
        Assert.All(stage.ParameterSpecs, p => Assert.Single(p.Value, d => d == "S0"));
    }

    [Fact]
    public void AFamilyWithNoPlanThatFitsReportsOom()
    {
        var tiny = BuiltInClusters.P3(1, 2) with { Device = BuiltInClusters.P3(1, 2).Device with { MemoryBytes = 1 << 16 } };
        var r = BaselinePlanner.Plan(BaselineMethod.Data, Gpt, tiny);
        Assert.True(r.Oom);
        Assert.NotEmpty(r.Grid);
        Assert.All(r.Grid, o => Assert.Contains("fits", o.Failure, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("gpt-tiny", 1, 2)]
    [InlineData("mlp", 1, 4)]
    [InlineData("wresnet-tiny", 1, 2)]
    public void AutoIsAtLeastAsFastAsEveryBaselineUnderTheSameCostModel(string model, int hosts, int devices)
    {
        var spec = ModelZoo.Get(model);
        var cluster = BuiltInClusters.P3(hosts, devices);
        var auto = AutoPlanner.Plan(spec, cluster).Plan.DpObjectiveSeconds;
        foreach (var method in new[] { BaselineMethod.Megatron, BaselineMethod.PpDp, BaselineMethod.Data, BaselineMethod.Zero2 })
        {
            var r = BaselinePlanner.Plan(method, spec, cluster);
            if (r.Oom) continue;
            var baseline = r.Best!.Result!.Plan.DpObjectiveSeconds;
            Assert.True(auto <= baseline * (1 + 1e-6),
                $"{model}: auto {auto * 1e3:F4} ms slower than {method} {baseline * 1e3:F4} ms ({r.Best.Point})");
        }
    }
}
