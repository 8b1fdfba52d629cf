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

    /// <summary>The mesh ranks this process runs, or null when it runs the whole mesh.</summary>
    public IReadOnlyList<int>? HeldRanks => _comm.HoldsWholeMesh ? null : _comm.Ranks;

    /// <summary>A host copy of mesh rank <paramref name="rank"/>'s shard of a parameter or state (a rank this process runs).</summary>
    public HostTensor ReadShard(string name, int rank)
    {
        var local = Local(rank, name);
        return _devices[local].CopyToHost(PersistentShards(name)[local]);
    }

    /// <summary>
    /// This process's blocks of a parameter or state (each distinct region once; replicas of it on other
    /// local ranks skipped) with where each starts in the full tensor: on a mesh spanning silos, the
    /// blocks of all silos together assemble the full value.
    /// </summary>
    public IReadOnlyList<(long[] Offsets, HostTensor Data)> ReadBlocks(string name)
    {
        var node = _graph.TryGet(name, out var n) ? n : throw new ExecutionException($"the graph has no parameter or state named '{name}'") { Field = name };
        var shards = PersistentShards(name);
        var spec = _program[node.Id].Strategy.Output;
        var blocks = new List<(long[], HostTensor)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var k = 0; k < shards.Length; k++)
        {
            var offsets = ShardLayout.Offsets(spec, _plan.Mesh, _comm.Rank(k), [.. shards[k].Shape]);
            if (seen.Add(string.Join(",", offsets))) blocks.Add((offsets, _devices[k].CopyToHost(shards[k])));
        }
        return blocks;
    }

    /// <summary>Overwrites mesh rank <paramref name="rank"/>'s shard of a parameter or state (a rank this process runs).</summary>
    public void WriteShard(string name, int rank, HostTensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var local = Local(rank, name);
        var t = PersistentShards(name)[local];
        if (!value.Shape.AsSpan().SequenceEqual(t.Shape))
            throw new ExecutionException($"'{name}' on rank {rank} is [{string.Join(", ", t.Shape.ToArray())}], the value is [{string.Join(", ", value.Shape)}]") { Field = name };
        _devices[local].CopyFromHost(value, t);
    }

    /// <summary>The index of mesh rank <paramref name="rank"/> among this process's devices.</summary>
    private int Local(int rank, string name)
    {
        var ranks = _comm.Ranks;
        for (var i = 0; i < ranks.Count; i++)
            if (ranks[i] == rank) return i;
        throw new ExecutionException($"rank {rank} of '{name}' is not run here: this process holds ranks {string.Join(", ", ranks)} of a mesh of {_plan.Mesh.Devices}") { Field = name };
    }

    private Tensor[] PersistentShards(string name) =>
        _graph.TryGet(name, out var node) && _persistent.TryGetValue(node.Id, out var shards)
            ? shards
            : throw new ExecutionException($"the graph has no parameter or state named '{name}'") { Field = name };
}
