using Alpa.Planner.Cluster;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;

namespace Alpa.Tests.Pipeline;

public sealed class CrossMeshSimulationTests
{
    /// <summary>Two stages of two devices on two hosts; a replicated [64, 1024] f32 boundary tensor.</summary>
    private static Plan ReplicatedBoundary()
    {
        var plan = PipelineTests.SyntheticPlan(2, 4, PipelineSchedule.OneFOneB, new Random(3), skipTransfers: false);
        var tensor = new PlanTensor("layers.0.out", [64, 1024], 4);
        IReadOnlyList<string> replicated = ["R", "R"];
        return plan with
        {
            Stages = [.. plan.Stages.Select(s => s with { BoundarySpecs = new Dictionary<string, IReadOnlyList<string>> { [tensor.Name] = replicated } })],
            Transfers = [new PlanTransfer(0, 1, tensor.Bytes) { Tensors = [tensor] }],
        };
    }

    [Fact]
    public void SendsArePricedByTheTilePlannerAndLocalAllGatherIsCheaper()
    {
        var plan = ReplicatedBoundary();
        var transfer = plan.Transfers[0];
        var hosts = CrossMeshResharding.HostMap(plan.Cluster);
        var request = new ReshardingRequest
        {
            Shape = new([64, 1024]), ElementBytes = 4, HostOfDevice = hosts,
            Source = new ReshardingSide(Alpa.Planner.Sharding.ShardingSpec.Parse(["R", "R"]), plan.Stages[0].LogicalMesh, plan.Stages[0].Devices),
            Destination = new ReshardingSide(Alpa.Planner.Sharding.ShardingSpec.Parse(["R", "R"]), plan.Stages[1].LogicalMesh, plan.Stages[1].Devices),
        };
        Assert.Equal(CrossMeshResharding.Seconds(CrossMeshResharding.Plan(request), hosts, plan.Cluster),
                     PipelineSimulator.TransferSeconds(plan, transfer, backward: false));
        var naive = plan with { LocalAllGather = false };
        Assert.True(PipelineSimulator.TransferSeconds(naive, transfer, false) > 1.5 * PipelineSimulator.TransferSeconds(plan, transfer, false));
        Assert.True(PipelineSimulator.Simulate(naive).StepSeconds > PipelineSimulator.Simulate(plan).StepSeconds);
    }

    [Fact]
    public void TensorsSpecsAndTheAllGatherFlagSurviveJson()
    {
        var plan = ReplicatedBoundary() with { LocalAllGather = false };
        var json = PlanJson.Write(plan);
        var read = PlanJson.Read(json);
        Assert.Equal(json, PlanJson.Write(read));
        Assert.False(read.LocalAllGather);
        Assert.Equal(PipelineSimulator.Simulate(plan).StepSeconds, PipelineSimulator.Simulate(read).StepSeconds);
        var missing = plan with { Stages = [plan.Stages[0], plan.Stages[1] with { BoundarySpecs = new Dictionary<string, IReadOnlyList<string>>() }] };
        var e = Assert.Throws<PlanFormatException>(() => PlanJson.Read(PlanJson.Write(missing)));
        Assert.Equal("transfers[0].tensors[0]", e.Field);
    }

    [Fact]
    public void PlannedStagesListTheirBoundaryTensorsWithSpecsOnBothSides()
    {
        var plan = AutoPlanner.Plan(ModelZoo.Get("mlp"), BuiltInClusters.P3(1, 2), new AutoPlanOptions { Method = PlanMethod.InterOnly }).Plan;
        Assert.Equal(2, plan.Stages.Count);
        var transfer = Assert.Single(plan.Transfers);
        Assert.NotEmpty(transfer.Tensors);
        Assert.Equal(transfer.Bytes, transfer.Tensors.Sum(t => t.Bytes));
        foreach (var t in transfer.Tensors)
            Assert.All(plan.Stages, s => Assert.Equal(t.Shape.Count, s.BoundarySpecs[t.Name].Count));
        Assert.Equal(PlanJson.Write(plan), PlanJson.Write(PlanJson.Read(PlanJson.Write(plan))));
    }
}
