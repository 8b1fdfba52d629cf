using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Plans;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>
/// The whole-graph strategy map of one stage graph under a plan stage. The plan fixes the strategy
/// of every heavy op and the storage spec of every parameter; this completes it with the layouts of
/// the cheap ops that follow them, the stage's boundary tensors and the optimizer state, by the
/// intra-op ILP restricted to exactly the plan's choices (deterministic; it never picks another
/// strategy for a heavy op). A heavy op the plan does not name is refused.
/// </summary>
public static class StageLowering
{
    public static IntraResult Complete(Graph stageGraph, PlanStage stage, ClusterSpec cluster)
    {
        ArgumentNullException.ThrowIfNull(stageGraph);
        ArgumentNullException.ThrowIfNull(stage);
        ArgumentNullException.ThrowIfNull(cluster);
        var submesh = cluster.WithShape(stage.Submesh.Hosts, stage.Submesh.Devices);
        var mesh = LogicalMesh.Create(submesh, stage.LogicalMesh.N0, stage.LogicalMesh.N1);
        var options = new IntraOptions { StrategyFilter = new PlanPinning(stage) };
        var result = IntraOpPass.Run(stageGraph, mesh, options);
        foreach (var (name, id) in result.Strategies)
            if (!stage.Strategies.TryGetValue(name, out var planned) || planned != id)
                throw new Spmd.SpmdException($"heavy op '{name}' has no strategy in the plan's stage (layers {stage.FirstLayer}–{stage.LastLayer}); the plan is for another graph: re-plan") { Field = name };
        return result;
    }

    /// <summary>Allows exactly the plan's strategy for a heavy op it names and the plan's storage spec for a parameter.</summary>
    private sealed class PlanPinning(PlanStage stage) : IStrategyFilter
    {
        public bool Allows(Node node, Strategy strategy, LogicalMesh mesh) =>
            node.IsLeaf || !stage.Strategies.TryGetValue(node.Name, out var id) || strategy.Id == id;

        public bool AllowsParameter(Node parameter, ShardingSpec storage, ShardingSpec update, LogicalMesh mesh) =>
            !stage.ParameterSpecs.TryGetValue(parameter.Name, out var spec) || storage.Equals(ShardingSpec.Parse(spec));
    }
}
