using Alpa.Kernels;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// One tensor captured for a checkpoint: its layout and a host copy of the shard each rank holds
/// (ranks that hold no distinct block may be null). The copies are taken synchronously so training
/// can overwrite its buffers while the snapshot is written in the background.
/// </summary>
/// <param name="Name">Stable tensor name.</param>
/// <param name="Kind"><c>parameter</c> or <c>state</c>.</param>
/// <param name="Dtype">Logical dtype name (<c>f32</c>, <c>bf16</c>, …).</param>
/// <param name="Layout">Global shape, spec and mesh.</param>
/// <param name="Shards">Per-rank host copies, indexed by rank.</param>
public sealed record SnapshotTensor(string Name, string Kind, string Dtype, TensorLayout Layout, IReadOnlyList<HostTensor?> Shards);

/// <summary>Everything a checkpoint holds, captured at one step.</summary>
public sealed record CheckpointSnapshot
{
    /// <summary>Optimizer steps completed.</summary>
    public required long Step { get; init; }
    /// <summary>Index of the next batch.</summary>
    public required long DataPosition { get; init; }
    /// <summary>Seed of initialization and data.</summary>
    public required ulong RngSeed { get; init; }
    /// <summary>Facts about the run, copied into the manifest.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>Parameters and optimizer states.</summary>
    public required IReadOnlyList<SnapshotTensor> Tensors { get; init; }
    /// <summary>The mesh ranks captured (each writes one shard file), or null for every rank of the mesh (one process holding it all).</summary>
    public IReadOnlyList<int>? Ranks { get; init; }

    /// <summary>Bytes the snapshot's shard files will hold (distinct blocks captured here, 4 bytes per element).</summary>
    public long Bytes => Tensors.Sum(t => TileGeometry.UniqueTiles(t.Layout).Where(u => t.Shards[u.Rank] is not null).Sum(u => u.Tile.Elements) * 4);

    /// <summary>The ranks that write a shard file: <see cref="Ranks"/>, or every rank of the mesh.</summary>
    public IReadOnlyList<int> Writers => Ranks ?? [.. Enumerable.Range(0, Tensors.Count == 0 ? 0 : Tensors.Max(t => t.Layout.Mesh.Devices))];
}

/// <summary>Where a checkpoint save can be interrupted on purpose (fault-injection tests).</summary>
public enum CheckpointFaultPoint
{
    /// <summary>A shard file was written and synced; the manifest is not written yet.</summary>
    AfterShardFile,
    /// <summary>Every shard and the temporary manifest are synced; the rename has not happened.</summary>
    BeforeManifestRename,
}

/// <summary>A fault-injection point reached during a save.</summary>
/// <param name="Step">The step being saved.</param>
/// <param name="Point">Where the save is.</param>
/// <param name="FilesWritten">Shard files written so far.</param>
/// <param name="FilesTotal">Shard files of this checkpoint.</param>
public sealed record CheckpointFault(long Step, CheckpointFaultPoint Point, int FilesWritten, int FilesTotal);

/// <summary>Options of a checkpoint writer.</summary>
public sealed record CheckpointOptions
{
    /// <summary>Directory holding one <c>step-NNNNNNNNN</c> directory per committed checkpoint.</summary>
    public required string Directory { get; init; }
    /// <summary>Committed checkpoints to keep (older ones are deleted after each commit); at least 1.</summary>
    public int Keep { get; init; } = 3;
    /// <summary>Called at every fault point of a save; a test hook may throw or kill the process there.</summary>
    public Action<CheckpointFault>? FaultHook { get; init; }
    /// <summary>Write the shard files of different ranks concurrently (as separate workers would).</summary>
    public bool ParallelFiles { get; init; } = true;
}

/// <summary>What one committed save wrote and how long it took.</summary>
/// <param name="Step">Step of the checkpoint.</param>
/// <param name="Path">Its step directory.</param>
/// <param name="Bytes">Bytes of shard files.</param>
/// <param name="SnapshotSeconds">Time the caller was blocked copying buffers to the host.</param>
/// <param name="WriteSeconds">Time of writing, syncing and committing (in the background).</param>
public sealed record SaveReport(long Step, string Path, long Bytes, double SnapshotSeconds, double WriteSeconds);
