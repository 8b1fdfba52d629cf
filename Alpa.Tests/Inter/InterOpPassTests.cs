using Alpa.Planner;
using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Tests.Inter;

public sealed class InterOpPassTests
{
    internal static readonly InterOpCluster Cluster = new()
    {
        Name = "test:2x2", Hosts = 2, DevicesPerHost = 2, DeviceMemoryBytes = 1L << 30,
        IntraHostBandwidth = 50e9, InterHostBandwidth = 3e9,
    };

    internal static InterOpResult PlanMlp(InterOpOptions? options = null, IProgress<InterOpProgress>? progress = null, InterOpCluster? cluster = null)
    {
        cluster ??= Cluster;
        var graph = TestGraphs.Mlp(layers: 12, batch: 64, hidden: 256);
        var layers = LayerClustering.Cluster(graph, new LayerClusteringOptions { Layers = 4 });
        var problem = new InterOpProblem
        {
            GraphHash = GraphHashing.Compute(graph), Cluster = cluster,
            Costs = new PlaceholderStageCosts(graph, layers, cluster, new PlaceholderRates { DeviceFlopsPerSecond = 1e9 }),
            MicrobatchCandidates = InterOpPass.Divisors(64, 16),
        };
        return InterOpPass.Plan(problem, options, progress);
    }

    [Fact]
    public void PlansAnMlpAndTheSimulationMatchesThePlan()
    {
        var result = PlanMlp();
        var plan = result.Plan;
        Assert.Equal(4, plan.Cluster.DeviceCount);
        Assert.Equal(Enumerable.Range(0, 4), plan.Stages.SelectMany(s => s.Devices).Order());
        Assert.Equal(3, plan.Stages[^1].LastLayer);
        Assert.Contains(plan.Microbatches, InterOpPass.Divisors(64, 16));
        Assert.Equal(result.Simulation.StepSeconds, plan.StepSeconds);
        Assert.True(plan.StepSeconds > 0 && plan.DpObjectiveSeconds > 0);
        Assert.True(plan.TflopsPerDevice > 0);
        Assert.All(plan.Stages, s => Assert.True(s.PeakMemoryBytes >= s.ParameterBytes));
        Assert.All(plan.Stages, s => Assert.Equal(3 * (s.LastLayer - s.FirstLayer + 1), s.Strategies.Count));
        Assert.Equal(5, result.Reports.Count);
        Assert.All(result.Reports, r => Assert.True(r.TMaxValues > 0 && r.Candidates > 0));
    }

    [Fact]
    public void ResultDoesNotDependOnParallelismAndProgressReachesTheTotal()
    {
        var reports = new List<InterOpProgress>();
        var serial = PlanMlp(new InterOpOptions { MaxParallelism = 1, Microbatches = 8 }, new SyncProgress(reports.Add));
        var parallel = PlanMlp(new InterOpOptions { MaxParallelism = 4, Microbatches = 8 });
        Assert.Equal(PlanJson.Write(serial.Plan), PlanJson.Write(parallel.Plan));
        Assert.Equal(8, serial.Plan.Microbatches);
        Assert.NotEmpty(reports);
        Assert.Equal(reports[0].Total, reports.Max(r => r.Evaluated));
        Assert.All(reports, r => Assert.Equal(8, r.Microbatches));
    }

    [Fact]
    public void GPipeNeedsMoreMemoryThan1F1B()
    {
        var one = PlanMlp(new InterOpOptions { Microbatches = 16 });
        Assert.All(one.Plan.Stages.Select((s, i) => (s, i)), x =>
            Assert.True(x.s.ParameterBytes + ScheduleOrder.LiveMicrobatches(PipelineSchedule.OneFOneB, x.i, one.Plan.Stages.Count, 16) * x.s.ActivationBytes <= Cluster.DeviceMemoryBytes));
        var gpipe = PlanMlp(new InterOpOptions { Microbatches = 16, Schedule = PipelineSchedule.GPipe });
        Assert.Equal(PipelineSchedule.GPipe, gpipe.Plan.Schedule);
        Assert.All(gpipe.Plan.Stages, s => Assert.True(s.ParameterBytes + 16L * s.ActivationBytes <= Cluster.DeviceMemoryBytes));
    }

    [Fact]
    public void NoPlanFitsTinyDevicesAndBadOptionsAreNamed()
    {
        var tiny = Cluster with { DeviceMemoryBytes = 1000 };
        var e = Assert.Throws<InterOpException>(() => PlanMlp(cluster: tiny));
        Assert.Equal("memory", e.Field);
        Assert.Contains("over memory", e.Message, StringComparison.Ordinal);
        var b = Assert.Throws<InterOpException>(() => PlanMlp(new InterOpOptions { Microbatches = 3 }));
        Assert.Equal("microbatches", b.Field);
        var m = Assert.Throws<InterOpException>(() => PlanMlp(cluster: Cluster with { DevicesPerHost = 3 }));
        Assert.Equal("DevicesPerHost", m.Field);
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; posts asynchronously).</summary>
    private sealed class SyncProgress(Action<InterOpProgress> report) : IProgress<InterOpProgress>
    {
        private readonly Lock _gate = new();
        public void Report(InterOpProgress value)
        {
            lock (_gate) report(value);
        }
    }
}
