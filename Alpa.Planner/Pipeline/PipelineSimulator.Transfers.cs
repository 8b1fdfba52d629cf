using Alpa.Planner.Graph;
using Alpa.Planner.Plans;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Pipeline;

public static partial class PipelineSimulator
{
    /// <summary>
    /// Time of one SEND of <paramref name="transfer"/> (forward, or its gradient when
    /// <paramref name="backward"/>). When the plan lists the boundary tensors with their specs in
    /// both stages, each tensor is priced by the <see cref="CrossMeshResharding"/> tile planner (with
    /// the plan's local all-gather setting) and the tensors go one after another; otherwise the bytes
    /// move as one block (<see cref="TransferSeconds(Inter.InterOpCluster, IReadOnlyList{int}, IReadOnlyList{int}, long)"/>).
    /// A gradient goes back with the layouts swapped (the consumer's input spec is its source).
    /// </summary>
    public static double TransferSeconds(Plan plan, PlanTransfer transfer, bool backward)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(transfer);
        var (src, dst) = backward ? (transfer.ToStage, transfer.FromStage) : (transfer.FromStage, transfer.ToStage);
        var (from, to) = (plan.Stages[src], plan.Stages[dst]);
        if (transfer.Tensors.Count == 0 || !transfer.Tensors.All(t => from.BoundarySpecs.ContainsKey(t.Name) && to.BoundarySpecs.ContainsKey(t.Name)))
            return TransferSeconds(plan.Cluster, from.Devices, to.Devices, transfer.Bytes);
        var hosts = CrossMeshResharding.HostMap(plan.Cluster);
        return transfer.Tensors.Sum(tensor =>
            CrossMeshResharding.Seconds(CrossMeshResharding.Plan(Resharding(plan, transfer, tensor, backward)), hosts, plan.Cluster));
    }

    /// <summary>The resharding of one boundary tensor of <paramref name="transfer"/> (its gradient when <paramref name="backward"/>), with the plan's local all-gather setting.</summary>
    public static ReshardingRequest Resharding(Plan plan, PlanTransfer transfer, PlanTensor tensor, bool backward)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(transfer);
        ArgumentNullException.ThrowIfNull(tensor);
        var (src, dst) = backward ? (transfer.ToStage, transfer.FromStage) : (transfer.FromStage, transfer.ToStage);
        return new ReshardingRequest
        {
            Shape = new Shape([.. tensor.Shape]),
            ElementBytes = tensor.ElementBytes,
            Source = Side(plan.Stages[src], tensor.Name),
            Destination = Side(plan.Stages[dst], tensor.Name),
            HostOfDevice = CrossMeshResharding.HostMap(plan.Cluster),
            LocalAllGather = plan.LocalAllGather,
        };
    }

    private static ReshardingSide Side(PlanStage stage, string tensor) =>
        new(ShardingSpec.Parse(stage.BoundarySpecs[tensor]), stage.LogicalMesh, stage.Devices);
}
