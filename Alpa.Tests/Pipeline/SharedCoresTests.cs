using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;

namespace Alpa.Tests.Pipeline;

/// <summary>Local devices sharing the machine's cores: carried by cluster files and plans, shared by the simulator.</summary>
public sealed class SharedCoresTests
{
    private static ClusterSpec Local(RuntimeOverheads overheads) =>
        BuiltInClusters.ForLocal(1, 4, 40e9, 5e9, 5e9, 1L << 32) with { Overheads = overheads };

    [Fact]
    public void ClusterFilesAndPlansCarryTheSharedCoresAndTheVectorRate()
    {
        var spec = Local(new RuntimeOverheads { OpSeconds = 2e-6, SharedCores = 2, VectorFlops = 5.5e9 });
        var back = ClusterJson.Parse(ClusterJson.Write(spec)).Overheads;
        Assert.Equal(2, back.SharedCores);
        Assert.Equal(5.5e9, back.VectorFlops, 1);
        var cluster = AutoPlanner.ToInterOp(spec);
        Assert.Equal(2, cluster.SharedCores);
        var plan = PipelineTests.SyntheticPlan(2, 2, PipelineSchedule.GPipe, new Random(5));
        var shared = plan with { Cluster = plan.Cluster with { SharedCores = 2 } };
        Assert.Equal(2, PlanJson.Read(PlanJson.Write(shared)).Cluster.SharedCores);
        Assert.DoesNotContain("shared_cores", PlanJson.Write(plan), StringComparison.Ordinal);

        var json = System.Text.Json.Nodes.JsonNode.Parse(ClusterJson.Write(spec))!;
        json["runtime"]!["shared_cores"] = 1.5;
        Assert.Equal("runtime.shared_cores", Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(json.ToJsonString())).Field);
        json["runtime"]!["shared_cores"] = -1;
        Assert.Equal("runtime.shared_cores", Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(json.ToJsonString())).Field);
    }

    [Fact]
    public void VectorOpsRunAtTheVectorRateAndGemmsAtThePeak()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(64, 64));
        var y = b.Gelu(b.MatMul(x, b.Parameter("w", new Shape(64, 64)), name: "mm"), "act");
        var graph = b.Build([y]);
        var slow = Local(new RuntimeOverheads { VectorFlops = 1e9 });
        double Seconds(ClusterSpec c, string name) => ComputeModel.Seconds(graph[name], LogicalMesh.Create(c.WithShape(1, 1), 1, 1), 1, 0);
        Assert.Equal(graph["act"].Flops / 1e9, Seconds(slow, "act"), 1e-12);
        Assert.Equal(graph["act"].Flops / 40e9, Seconds(Local(RuntimeOverheads.None), "act"), 1e-12);
        Assert.Equal(Seconds(Local(RuntimeOverheads.None), "mm"), Seconds(slow, "mm"), 1e-15);
    }

    [Fact]
    public void PerKindRates_RoundTripThroughClusterFiles_AndPriceTheirKindsOnly()
    {
        var rates = new RuntimeOverheads
        {
            VectorFlops = 4e9,
            OpFlops = new Dictionary<OpKind, double> { [OpKind.ReduceSum] = 1e9, [OpKind.MatMul] = 20e9 },
            OpBytesPerSecond = new Dictionary<OpKind, double> { [OpKind.Transpose] = 2e9 },
        };
        var spec = Local(rates);
        var text = ClusterJson.Write(spec);
        Assert.Contains("\"op_gflops\"", text, StringComparison.Ordinal);
        var back = ClusterJson.Parse(text).Overheads;
        Assert.Equal(1e9, back.OpFlops[OpKind.ReduceSum], 1);
        Assert.Equal(20e9, back.OpFlops[OpKind.MatMul], 1);
        Assert.Equal(2e9, back.OpBytesPerSecond[OpKind.Transpose], 1);
        Assert.False(back.IsNone);
        Assert.True(new RuntimeOverheads().IsNone);
        Assert.DoesNotContain("op_gflops", ClusterJson.Write(Local(new RuntimeOverheads { OpSeconds = 1e-6 })), StringComparison.Ordinal);

        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(64, 64));
        var mm = b.MatMul(x, b.Parameter("w", new Shape(64, 64)), name: "mm");
        var transposed = b.Transpose(mm, 1, 0);
        var graph = b.Build([b.ReduceSum(b.Gelu(mm, "act"), [0], name: "sum"), transposed]);
        double Seconds(ClusterSpec c, string name, double bytes = 0) => ComputeModel.Seconds(graph[name], LogicalMesh.Create(c.WithShape(1, 1), 1, 1), 1, bytes);
        Assert.Equal(graph["sum"].Flops / 1e9, Seconds(spec, "sum"), 1e-12);
        Assert.Equal(graph["act"].Flops / 4e9, Seconds(spec, "act"), 1e-12); // not listed: the vector rate
        Assert.Equal(graph["mm"].Flops / 20e9, Seconds(spec, "mm"), 1e-12);
        Assert.Equal(1e6 / 2e9, Seconds(spec, transposed.Name, 1e6), 1e-12);

        var json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        json["runtime"]!["op_gflops"]!["ReduceSun"] = 1.0;
        var unknown = Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(json.ToJsonString()));
        Assert.Equal("runtime.op_gflops.ReduceSun", unknown.Field);
        Assert.Contains("not an op kind", unknown.Message, StringComparison.Ordinal);
        json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        json["runtime"]!["op_gflops"]!["ReduceSum"] = 0;
        Assert.Equal("runtime.op_gflops.ReduceSum", Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(json.ToJsonString())).Field);
        json = System.Text.Json.Nodes.JsonNode.Parse(text)!;
        json["runtime"]!["op_gb_per_s"] = 3;
        Assert.Equal("runtime.op_gb_per_s", Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(json.ToJsonString())).Field);
    }

    [Theory]
    [InlineData(PipelineSchedule.OneFOneB, 4)]
    [InlineData(PipelineSchedule.GPipe, 2)]
    public void WithACoreForEveryDeviceSharingChangesNothing(PipelineSchedule schedule, int stages)
    {
        var plan = PipelineTests.SyntheticPlan(stages, 4, schedule, new Random(11));
        plan = plan with { Cluster = plan.Cluster with { InstructionSeconds = 1e-6, RunSeconds = 2e-6 } };
        var devices = plan.Stages.Sum(s => s.DeviceCount);
        var alone = PipelineSimulator.Simulate(plan);
        var shared = PipelineSimulator.Simulate(plan with { Cluster = plan.Cluster with { SharedCores = devices } });
        Assert.Equal(alone.StepSeconds, shared.StepSeconds, alone.StepSeconds * 1e-9);
        for (var s = 0; s < stages; s++)
        {
            Assert.Equal(alone.Stages[s].BusySeconds, shared.Stages[s].BusySeconds, alone.StepSeconds * 1e-9);
            Assert.Equal(alone.Stages[s].PeakMemoryBytes, shared.Stages[s].PeakMemoryBytes);
        }
    }

    [Fact]
    public void OneSharedCoreRunsTheStagesOneAtATime()
    {
        var plan = PipelineTests.SyntheticPlan(2, 4, PipelineSchedule.OneFOneB, new Random(7));
        var alone = PipelineSimulator.Simulate(plan);
        var one = PipelineSimulator.Simulate(plan with { Cluster = plan.Cluster with { SharedCores = 1 } });
        // Every device-second of work now needs the one core to itself: the step is at least the work
        // of all devices together, and the stages overlap no more than a core allows.
        var work = plan.Stages.Select((s, i) => alone.Stages[i].BusySeconds * s.DeviceCount).Sum();
        Assert.True(one.StepSeconds >= work * (1 - 1e-9), $"step {one.StepSeconds} < work {work}");
        Assert.True(one.StepSeconds > alone.StepSeconds);
        Assert.True(one.StepSeconds <= alone.StepSeconds + work * (1 + 1e-9));
        // Busy time is wall time in RUN, UPDATE and collectives: slowed down, never shorter.
        for (var s = 0; s < 2; s++) Assert.True(one.Stages[s].BusySeconds >= alone.Stages[s].BusySeconds * (1 - 1e-9));
    }

    [Fact]
    public void SmallNodesOfALocalMesh_RunDeviceAfterDevice_AndAStageTakesOneCore()
    {
        var b = new GraphBuilder();
        var small = b.Gelu(b.Input("x", new Shape(8, 8)), "small");
        var big = b.MatMul(b.Input("a", new Shape(512, 512)), b.Parameter("w", new Shape(512, 512)), name: "big");
        var graph = b.Build([small, big]);
        var threads = new RuntimeOverheads { OpSeconds = 1e-6, SharedCores = 2, MeshConcurrentFlops = 4e6, MeshConcurrentBytes = 1 << 20 };
        var always = threads with { MeshConcurrentFlops = 0, MeshConcurrentBytes = 0 };
        double Seconds(RuntimeOverheads o, string name, int devices) =>
            ComputeModel.Seconds(graph[name], LogicalMesh.Create(Local(o).WithShape(1, devices), 1, devices), devices, 0);
        // A small node on two devices: both devices' work, one after the other; a big one: at once; one device: no change.
        Assert.Equal(2 * Seconds(always, "small", 2), Seconds(threads, "small", 2), 1e-15);
        Assert.Equal(Seconds(always, "big", 2), Seconds(threads, "big", 2), 1e-15);
        Assert.Equal(Seconds(always, "small", 1), Seconds(threads, "small", 1), 1e-15);

        var spec = Local(threads);
        var back = ClusterJson.Parse(ClusterJson.Write(spec)).Overheads;
        Assert.Equal((4e6, 1048576.0), (back.MeshConcurrentFlops, back.MeshConcurrentBytes));
        Assert.True(AutoPlanner.ToInterOp(spec).StageThreads);
        Assert.False(AutoPlanner.ToInterOp(Local(always)).StageThreads);

        // Two stages of two devices on two cores: with a thread per stage nothing is shared; counted per device, each runs at half speed.
        var plan = PipelineTests.SyntheticPlan(2, 4, PipelineSchedule.OneFOneB, new Random(11));
        plan = plan with { Stages = [.. plan.Stages.Select(st => st with { Submesh = new Alpa.Planner.Inter.SubmeshShape(1, 2) })] };
        var alone = PipelineSimulator.Simulate(plan);
        var perThread = plan with { Cluster = plan.Cluster with { SharedCores = 2, StageThreads = true } };
        var perDevice = plan with { Cluster = plan.Cluster with { SharedCores = 2 } };
        Assert.Equal(alone.StepSeconds, PipelineSimulator.Simulate(perThread).StepSeconds, alone.StepSeconds * 1e-9);
        Assert.True(PipelineSimulator.Simulate(perDevice).StepSeconds > alone.StepSeconds * 1.01);
        Assert.True(PlanJson.Read(PlanJson.Write(perThread)).Cluster.StageThreads);
        Assert.DoesNotContain("stage_threads", PlanJson.Write(perDevice), StringComparison.Ordinal);
    }
}
