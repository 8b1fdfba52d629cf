using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;
using Xunit.Abstractions;

namespace Alpa.Tests.Intra;

/// <summary>Plans the literature knows come out of the search, with no special cases.</summary>
public sealed class KnownPlanTests(ITestOutputHelper output)
{
    private static readonly ClusterSpec FourGpus = BuiltInClusters.P3(1, 4);

    [Fact]
    public void LargeHiddenSmallBatchMlpGivesMegatronSplit()
    {
        var graph = BenchGraphs.Mlp(batch: 8, hidden: 4096, ffn: 16384, DType.F16);
        var search = IntraOpPass.RunAllShapes(graph, FourGpus);
        var r = search.Best;
        Report("megatron", search);
        var fc1 = r.NodeStrategies["mlp.fc1"];
        var fc2 = r.NodeStrategies["mlp.fc2"];
        // fc1: weight column-sharded [R, Sa]; fc2: weight row-sharded [Sa, R] on the same axis a.
        var w1 = fc1.Inputs[1];
        var w2 = fc2.Inputs[1];
        Assert.Equal(DimSharding.R, w1[0]);
        Assert.NotEqual(DimSharding.R, w1[1]);
        Assert.Equal(w1[1], w2[0]);
        Assert.Equal(DimSharding.R, w2[1]);
        Assert.Empty(fc1.Collectives);
        var ar = Assert.Single(fc2.Collectives);
        Assert.Equal(CollectiveKind.AllReduce, ar.Kind);
        // No other collective or resharding in the forward pass.
        Assert.All(graph.Nodes.Where(n => n.Phase == Phase.Forward && n.Name != "mlp.fc2"),
            n => Assert.Empty(r.NodeStrategies[n.Name].Collectives));
        var gap = RunnerUp(graph, r, "mlp.fc1", FourGpus);
        output.WriteLine($"megatron: runner-up with another fc1 strategy is {gap * 1e6:F1} µs slower");
        Assert.True(gap > 0);
    }

    [Fact]
    public void LargeBatchSmallHiddenMlpGivesDataParallelism()
    {
        var graph = BenchGraphs.Mlp(batch: 8192, hidden: 256, ffn: 1024, DType.F16);
        var search = IntraOpPass.RunAllShapes(graph, FourGpus);
        var r = search.Best;
        Report("data-parallel", search);
        foreach (var name in new[] { "mlp.fc1", "mlp.fc2" })
        {
            var s = r.NodeStrategies[name];
            Assert.Equal(4, s.Inputs[0].Partitions(0, r.Mesh));     // batch split over all devices
            Assert.Equal(ShardingSpec.Replicated(2), s.Inputs[1]);  // weights replicated for compute
        }
        Assert.All(r.ParameterSpecs.Values, spec => Assert.All(spec, d => Assert.Equal("R", d)));
        var gap = RunnerUp(graph, r, "mlp.fc1", FourGpus);
        output.WriteLine($"data-parallel: runner-up with another fc1 strategy is {gap * 1e6:F1} µs slower");
        Assert.True(gap > 0);
    }

    [Fact]
    public void TightMemoryBudgetGivesShardedOptimizerState()
    {
        var graph = BenchGraphs.Mlp(batch: 8192, hidden: 256, ffn: 1024, DType.F16);
        var mesh = LogicalMesh.Create(FourGpus, 1, 4);
        var free = IntraOpPass.Run(graph, mesh);
        // The least memory any plan with replicated Adam state needs: pin the moments replicated and
        // ask for an impossible budget; the typed error reports the minimum.
        var replicatedState = new Dictionary<string, IReadOnlyList<string>>
        {
            ["mlp.fc1.weight.adam_m"] = ["R", "R"],
            ["mlp.fc2.weight.adam_m"] = ["R", "R"],
        };
        var err = Assert.Throws<MemoryBudgetException>(() => IntraOpPass.Run(graph, mesh,
            new IntraOptions { FixedSpecs = replicatedState, MemoryBudgetBytes = 1 }));
        var budget = 0.97 * err.MinimumBytes;
        var zero = IntraOpPass.Run(graph, mesh, new IntraOptions { MemoryBudgetBytes = budget });
        output.WriteLine($"zero: replicated-state plans need ≥ {err.MinimumBytes / 1e6:F2} MB; budget {budget / 1e6:F2} MB; " +
                         $"plan peak {zero.PeakMemoryBytes / 1e6:F2} MB; cost {free.ObjectiveSeconds * 1e6:F1} → {zero.ObjectiveSeconds * 1e6:F1} µs");
        foreach (var (p, spec) in zero.UpdateSpecs) output.WriteLine($"  {p}: stored {string.Join(",", zero.ParameterSpecs[p])} updated {string.Join(",", spec)}");
        Assert.True(zero.PeakMemoryBytes <= budget);
        Assert.Contains(zero.UpdateSpecs.Values, spec => spec.Any(d => d != "R"));
        Assert.Equal(4, zero.NodeStrategies["mlp.fc1"].Inputs[0].Partitions(0, mesh)); // still data parallel
        Assert.Equal(ShardingSpec.Replicated(2), zero.NodeStrategies["mlp.fc1"].Inputs[1]);
    }

    [Fact]
    public void TwoHostGptKeepsWeightShardingInsideHosts()
    {
        var graph = BenchGraphs.GptSlice(layers: 2, batch: 16, seq: 576, hidden: 2048, heads: 16);
        var cluster = BuiltInClusters.P3(2, 4);
        var mesh = LogicalMesh.Create(cluster, 2, 4);
        Assert.True(mesh.Axis0.CrossesHosts);
        Assert.False(mesh.Axis1.CrossesHosts);
        var r = IntraOpPass.Run(graph, mesh);
        output.WriteLine($"gpt 2x4: {r.ObjectiveSeconds * 1e3:F3} ms, compute {r.ComputeSeconds * 1e3:F3} ms, comm {r.CommunicationSeconds * 1e3:F3} ms");
        var weights = graph.Nodes.Where(n => n.Op == OpKind.MatMul && n.Phase == Phase.Forward && n.Inputs[1].Op == OpKind.Parameter).ToList();
        Assert.NotEmpty(weights);
        foreach (var mm in weights)
        {
            var w = r.NodeStrategies[mm.Name].Inputs[1];
            output.WriteLine($"  {mm.Name}: {r.Strategies[mm.Name]}");
            Assert.Equal(0, w.UsedAxes & 1);  // never split across hosts
        }
        Assert.Contains(weights, mm => r.NodeStrategies[mm.Name].Inputs[1].UsedAxes == 2);
    }

    private void Report(string label, MeshSearchResult search)
    {
        var r = search.Best;
        output.WriteLine($"{label}: best mesh ({r.Mesh.N0}, {r.Mesh.N1}) {r.ObjectiveSeconds * 1e6:F1} µs " +
                         $"(compute {r.ComputeSeconds * 1e6:F1}, comm {r.CommunicationSeconds * 1e6:F1}); runner-up shape +{search.RunnerUpGapSeconds * 1e6:F1} µs");
        foreach (var (n, s) in r.Strategies) output.WriteLine($"  {n}: {s}");
    }

    /// <summary>Gap to the best plan in which <paramref name="node"/> takes any other strategy.</summary>
    private static double RunnerUp(Graph graph, IntraResult best, string node, ClusterSpec cluster)
    {
        var options = new IntraOptions
        {
            ForbiddenStrategies = new Dictionary<string, IReadOnlySet<string>> { [node] = new HashSet<string> { best.Strategies[node] } },
        };
        var mesh = LogicalMesh.Create(cluster, best.Mesh.N0, best.Mesh.N1);
        return IntraOpPass.Run(graph, mesh, options).ObjectiveSeconds - best.ObjectiveSeconds;
    }
}
