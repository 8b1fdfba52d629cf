using Alpa.Kernels;
using Alpa.Planner.Graph;
using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>Per-rank access to parameters and optimizer states, for checkpoints.</summary>
public sealed partial class SpmdExecutor : ICheckpointable
{
    /// <summary>Every parameter and state with its spec on this mesh.</summary>
    public IReadOnlyList<PersistentTensor> PersistentTensors =>
        [.. _graph.Nodes.Where(n => _persistent.ContainsKey(n.Id)).Select(n => new PersistentTensor(
            n.Name, n.Op == OpKind.Parameter ? "parameter" : "state", n.DType.ToJsonName(),
            new TensorLayout(n.Shape.ToArray(), _program[n.Id].Strategy.Output, new MeshShape(_plan.Mesh.N0, _plan.Mesh.N1))))];

    /// <summary>A host copy of rank <paramref name="rank"/>'s shard of a parameter or state.</summary>
    public HostTensor ReadShard(string name, int rank) => _devices[rank].CopyToHost(PersistentShards(name)[rank]);

    /// <summary>Overwrites rank <paramref name="rank"/>'s shard of a parameter or state.</summary>
    public void WriteShard(string name, int rank, HostTensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var t = PersistentShards(name)[rank];
        if (!value.Shape.AsSpan().SequenceEqual(t.Shape))
            throw new ExecutionException($"'{name}' on rank {rank} is [{string.Join(", ", t.Shape.ToArray())}], the value is [{string.Join(", ", value.Shape)}]") { Field = name };
        _devices[rank].CopyFromHost(value, t);
    }

    private Tensor[] PersistentShards(string name) =>
        _graph.TryGet(name, out var node) && _persistent.TryGetValue(node.Id, out var shards)
            ? shards
            : throw new ExecutionException($"the graph has no parameter or state named '{name}'") { Field = name };
}
