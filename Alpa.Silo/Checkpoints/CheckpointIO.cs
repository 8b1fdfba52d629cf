using System.Diagnostics;
using Alpa.Kernels;

namespace Alpa.Silo.Checkpoints;

/// <summary>A parameter or optimizer state a runner keeps, and how it is laid out there.</summary>
/// <param name="Name">Stable name (graph node name).</param>
/// <param name="Kind"><c>parameter</c> or <c>state</c>.</param>
/// <param name="Dtype">Logical dtype name.</param>
/// <param name="Layout">Global shape, spec and mesh in this runner.</param>
public sealed record PersistentTensor(string Name, string Kind, string Dtype, TensorLayout Layout);

/// <summary>
/// What can be checkpointed: a set of sharded tensors and access to each rank's block. A single
/// device, an SPMD mesh and a pipeline stage's mesh worker implement the same three members.
/// </summary>
public interface ICheckpointable
{
    /// <summary>Parameters and optimizer states with their layouts here.</summary>
    IReadOnlyList<PersistentTensor> PersistentTensors { get; }

    /// <summary>A host copy of rank <paramref name="rank"/>'s block of a tensor.</summary>
    HostTensor ReadShard(string name, int rank);

    /// <summary>Overwrites rank <paramref name="rank"/>'s block of a tensor.</summary>
    void WriteShard(string name, int rank, HostTensor value);

    /// <summary>
    /// The mesh ranks this process holds (ascending), or null when it holds the whole mesh. A part of a
    /// mesh spanning silos reads and writes only these ranks (<see cref="ReadShard"/> and <see cref="WriteShard"/> take mesh ranks).
    /// </summary>
    IReadOnlyList<int>? HeldRanks => null;
}

/// <summary>Capturing a snapshot from, and restoring a checkpoint into, anything <see cref="ICheckpointable"/>.</summary>
public static class CheckpointIO
{
    /// <summary>
    /// Copies every block that a checkpoint stores (distinct blocks only) to the host. A part of a mesh
    /// (<see cref="ICheckpointable.HeldRanks"/>) copies the distinct blocks whose lowest holder it holds:
    /// the parts of all silos together store each block of the mesh exactly once.
    /// </summary>
    public static (CheckpointSnapshot Snapshot, double Seconds) Capture(ICheckpointable source, long step, ulong seed,
                                                                        IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(source);
        var clock = Stopwatch.StartNew();
        var held = source.HeldRanks;
        var tensors = new List<SnapshotTensor>();
        foreach (var t in source.PersistentTensors)
        {
            var shards = new HostTensor?[t.Layout.Mesh.Devices];
            foreach (var (rank, _) in TileGeometry.UniqueTiles(t.Layout))
                if (held is null || held.Contains(rank)) shards[rank] = source.ReadShard(t.Name, rank);
            tensors.Add(new SnapshotTensor(t.Name, t.Kind, t.Dtype, t.Layout, shards));
        }
        var snapshot = new CheckpointSnapshot { Step = step, DataPosition = step, RngSeed = seed, Metadata = metadata, Tensors = tensors, Ranks = held };
        return (snapshot, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Loads every tensor of <paramref name="target"/> from <paramref name="checkpoint"/>, resharded to
    /// the target's layouts (each stored block read and verified once, see <see cref="Checkpoint.ReadShards"/>);
    /// a part of a mesh reads only the regions its <see cref="ICheckpointable.HeldRanks"/> hold.
    /// Optimizer states may be absent only when the checkpoint holds none at all (parameters imported
    /// from safetensors): they keep their initial zeros. Returns the names of states left at zero.
    /// A damaged block throws a <see cref="CheckpointException"/> after <see cref="Validate"/> passed.
    /// </summary>
    /// <param name="target">What to load into.</param>
    /// <param name="checkpoint">The checkpoint.</param>
    /// <param name="part">The target holds only part of the job (one pipeline stage): other tensors of the checkpoint are not an error.</param>
    public static IReadOnlyList<string> Restore(ICheckpointable target, Checkpoint checkpoint, bool part = false)
    {
        var zero = Validate(target, checkpoint, part);
        foreach (var t in target.PersistentTensors.Where(w => checkpoint.Contains(w.Name)))
        {
            var ranks = target.HeldRanks ?? [.. Enumerable.Range(0, t.Layout.Mesh.Devices)];
            var shards = checkpoint.ReadShards(t.Name, t.Layout, ranks);
            for (var i = 0; i < ranks.Count; i++) target.WriteShard(t.Name, ranks[i], shards[i]);
        }
        return zero;
    }

    /// <summary>
    /// Checks, from the manifest alone, that <paramref name="checkpoint"/> fits <paramref name="target"/>
    /// (same tensor names and dtypes; states absent only when it holds none); returns the states that
    /// will stay at zero. A mismatch is a <see cref="CheckpointException"/> saying what differs.
    /// </summary>
    public static IReadOnlyList<string> Validate(ICheckpointable target, Checkpoint checkpoint, bool part = false)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(checkpoint);
        var wanted = target.PersistentTensors;
        var hasStates = checkpoint.Manifest.Tensors.Any(t => t.Kind == "state");
        var extra = checkpoint.Names.Except(wanted.Select(w => w.Name), StringComparer.Ordinal).ToList();
        if (extra.Count > 0 && !part)
            throw new CheckpointException($"the checkpoint at {checkpoint.Path} holds tensors this model and optimizer lack: {Names(extra)} " +
                                          "(was it saved with another model or --optimizer?)");
        var missing = wanted.Where(w => !checkpoint.Contains(w.Name)).ToList();
        if (missing.Any(m => m.Kind == "parameter" || hasStates))
            throw new CheckpointException($"the checkpoint at {checkpoint.Path} lacks {Names(missing.Select(m => m.Name))} " +
                                          "(was it saved with another model or --optimizer?)");
        foreach (var t in wanted.Where(w => checkpoint.Contains(w.Name)))
        {
            var saved = checkpoint.Entry(t.Name);
            if (saved.Dtype != t.Dtype)
                throw new CheckpointException($"'{t.Name}' is {saved.Dtype} in the checkpoint, {t.Dtype} in this model");
        }
        return [.. missing.Select(m => m.Name)];
    }

    private static string Names(IEnumerable<string> names)
    {
        var list = names.ToList();
        return string.Join(", ", list.Take(4).Select(n => $"'{n}'")) + (list.Count > 4 ? $" and {list.Count - 4} more" : "");
    }
}
