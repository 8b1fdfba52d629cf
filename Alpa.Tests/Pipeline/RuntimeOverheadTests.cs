using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;

namespace Alpa.Tests.Pipeline;

/// <summary>The runtime's fixed costs: carried by cluster files and plans, charged by the cost model and the simulator.</summary>
public sealed class RuntimeOverheadTests
{
    private static readonly RuntimeOverheads Measured = new()
    {
        OpSeconds = 9e-6, MatmulSeconds = 4e-6, InstructionSeconds = 1.5e-6, RunSeconds = 30e-6, TransferSeconds = 7e-6,
    };

    private static ClusterSpec Local(RuntimeOverheads overheads) =>
        BuiltInClusters.ForLocal(1, 2, 40e9, 5e9, 5e9, 1L << 32) with { Overheads = overheads };

    [Fact]
    public void ClusterFilesCarryTheFixedCostsAndOldFilesStillLoad()
    {
        var spec = Local(Measured);
        var json = ClusterJson.Write(spec);
        Assert.Contains("\"runtime\"", json, StringComparison.Ordinal);
        var back = ClusterJson.Parse(json).Overheads;
        Assert.Equal(Measured.OpSeconds, back.OpSeconds, 1e-15);
        Assert.Equal(Measured.MatmulSeconds, back.MatmulSeconds, 1e-15);
        Assert.Equal(Measured.InstructionSeconds, back.InstructionSeconds, 1e-15);
        Assert.Equal(Measured.RunSeconds, back.RunSeconds, 1e-15);
        Assert.Equal(Measured.TransferSeconds, back.TransferSeconds, 1e-15);

        // A file written before the field existed (and every datasheet cluster) has no fixed costs.
        var old = ClusterJson.Write(BuiltInClusters.P3(1, 8));
        Assert.DoesNotContain("\"runtime\"", old, StringComparison.Ordinal);
        Assert.True(ClusterJson.Parse(old).Overheads.IsNone);

        var negative = System.Text.Json.Nodes.JsonNode.Parse(json)!;
        negative["runtime"]!["op_us"] = -9;
        var bad = Assert.Throws<ClusterSpecException>(() => ClusterJson.Parse(negative.ToJsonString()));
        Assert.Equal("runtime.op_us", bad.Field);
    }

    [Fact]
    public void EveryOpPaysTheFixedCostAndGemmsTheirCallCost()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(8, 8));
        var y = b.Gelu(b.MatMul(x, b.Parameter("w", new Shape(8, 8)), name: "mm"), "act");
        var graph = b.Build([y]);
        double Seconds(RuntimeOverheads o, string name) =>
            ComputeModel.Seconds(graph[name], LogicalMesh.Create(Local(o), 1, 2), 1, 256);
        Assert.Equal(Measured.OpSeconds + Measured.MatmulSeconds, Seconds(Measured, "mm") - Seconds(RuntimeOverheads.None, "mm"), 1e-12);
        Assert.Equal(Measured.OpSeconds, Seconds(Measured, "act") - Seconds(RuntimeOverheads.None, "act"), 1e-12);
        Assert.Equal(0, ComputeModel.Seconds(graph["x"], LogicalMesh.Create(Local(Measured), 1, 2), 1, 256));
    }

    [Fact]
    public void TheSimulatorChargesEveryInstructionAndEveryRun()
    {
        var plan = PipelineTests.SyntheticPlan(1, 4, PipelineSchedule.OneFOneB, new Random(3));
        var programs = InstructionEmitter.Emit(plan);
        var instructions = programs[0].Instructions.Count;
        var parts = programs[0].Instructions.Count(i => i is Run or UpdateStage);
        var charged = plan with { Cluster = plan.Cluster with { InstructionSeconds = 1e-3, RunSeconds = 5e-3 } };
        var extra = PipelineSimulator.Simulate(charged, programs).StepSeconds - PipelineSimulator.Simulate(plan, programs).StepSeconds;
        Assert.Equal(instructions * 1e-3 + parts * 5e-3, extra, 1e-9);
    }

    [Fact]
    public void PlansKeepTheInterpreterCostsAndTransfersPayTheirFixedCost()
    {
        var cluster = AutoPlanner.ToInterOp(Local(Measured));
        Assert.Equal(Measured.InstructionSeconds, cluster.InstructionSeconds);
        Assert.Equal(5e-6 + Measured.TransferSeconds, cluster.IntraHostLatency, 1e-15);
        var plan = PipelineTests.SyntheticPlan(2, 2, PipelineSchedule.GPipe, new Random(5));
        plan = plan with { Cluster = plan.Cluster with { InstructionSeconds = 2e-6, RunSeconds = 3e-5 } };
        var back = PlanJson.Read(PlanJson.Write(plan));
        Assert.Equal(2e-6, back.Cluster.InstructionSeconds);
        Assert.Equal(3e-5, back.Cluster.RunSeconds);
        // Plans made for datasheet clusters keep their form: no new fields, and they read back as zero.
        var plain = PipelineTests.SyntheticPlan(2, 2, PipelineSchedule.GPipe, new Random(5));
        Assert.DoesNotContain("instruction_seconds", PlanJson.Write(plain), StringComparison.Ordinal);
        Assert.Equal(0, PlanJson.Read(PlanJson.Write(plain)).Cluster.InstructionSeconds);
    }
}
