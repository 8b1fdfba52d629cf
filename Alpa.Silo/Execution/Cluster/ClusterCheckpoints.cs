using System.Diagnostics;
using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>Checkpoint options of a job across silos.</summary>
public sealed record ClusterCheckpointOptions
{
    /// <summary>Directory of the job's <c>step-NNNNNNNNN</c> checkpoints; every silo must reach it at the same path (a shared filesystem on real machines).</summary>
    public required string Directory { get; init; }
    /// <summary>Save when the number of steps done is a multiple of this (and after the last step); at least 1.</summary>
    public int Every { get; init; } = 10;
    /// <summary>Committed checkpoints to keep; at least 1.</summary>
    public int Keep { get; init; } = 3;
    /// <summary>
    /// Write in the background (true): the workers copy their blocks to the host at the step boundary and the next steps
    /// run while the files are written; the commit follows when every part is written, and the next save or the end of
    /// the job waits for it. False: the step after a save waits until the checkpoint is committed.
    /// </summary>
    public bool Background { get; init; } = true;
    /// <summary>Called on the driver just before the manifest rename (fault-injection tests); may throw to abandon the commit.</summary>
    public Action<CheckpointFault>? FaultHook { get; init; }
}

/// <summary>A save whose parts are being written; <see cref="Committed"/> ends when the manifest is in place (or faults, leaving none).</summary>
/// <param name="Step">Steps done in the checkpoint.</param>
/// <param name="Path">Its step directory.</param>
/// <param name="SnapshotSeconds">Time the step loop waited for the workers' host copies.</param>
/// <param name="Committed">The commit: every part written and synced, merged, the manifest renamed into place.</param>
public sealed record PendingClusterSave(long Step, string Path, double SnapshotSeconds, Task<SaveReport> Committed);

/// <summary>
/// The driver side of checkpoints across silos, a two-phase commit: every mesh worker copies its blocks (of whole
/// stages or of its part of a stage mesh spanning silos) to the host, writes and syncs its shard files and reports their
/// tiles and checksums (phase one); only when all replied does the driver merge the parts into the manifest, sync it
/// under a temporary name and rename it into place (phase two). A worker that dies in phase one leaves a step
/// directory without a manifest, which is never loaded and is deleted after the next commit.
/// </summary>
public static class ClusterCheckpoints
{
    /// <summary>Saves the state after <paramref name="step"/> steps of the driver's job and commits it before returning.</summary>
    public static async Task<SaveReport> SaveAsync(ClusterJobDriver driver, long step, ClusterCheckpointOptions options, CancellationToken cancellationToken = default)
    {
        var pending = await BeginSaveAsync(driver, step, options, cancellationToken).ConfigureAwait(false);
        return await pending.Committed.ConfigureAwait(false);
    }

    /// <summary>
    /// Starts a save at a step boundary: returns once every worker holds a host copy of its blocks (the next step may
    /// run); the workers write in the background and <see cref="PendingClusterSave.Committed"/> commits when all parts are written.
    /// </summary>
    public static async Task<PendingClusterSave> BeginSaveAsync(ClusterJobDriver driver, long step, ClusterCheckpointOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        var directory = CheckpointStore.StepDirectory(options.Directory, step);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        Directory.CreateDirectory(directory); // made durable with the manifest: the commit syncs this directory and its parent
        await driver.SaveShardsAsync(step, directory, background: true, cancellationToken).ConfigureAwait(false);
        var snapshotSeconds = clock.Elapsed.TotalSeconds;
        return new PendingClusterSave(step, directory, snapshotSeconds, CommitAsync(driver, step, directory, options, snapshotSeconds, clock, cancellationToken));
    }

    /// <summary>Phase two: collects every worker's part, merges them into the manifest, commits it and applies retention.</summary>
    private static async Task<SaveReport> CommitAsync(ClusterJobDriver driver, long step, string directory, ClusterCheckpointOptions options,
                                                      double snapshotSeconds, Stopwatch clock, CancellationToken cancellationToken)
    {
        var replies = await driver.AwaitShardsAsync(step, cancellationToken).ConfigureAwait(false);
        var parts = replies.Select(r => CheckpointPart.FromJson(r.PartJson)).ToList();
        var manifest = CheckpointPart.Merge(step, (ulong)driver.Job.Seed, StageCheckpoints.Metadata(driver.Job), parts);
        CheckpointWriter.Commit(directory, manifest, options.FaultHook);
        CheckpointWriter.Retain(options.Directory, options.Keep);
        return new SaveReport(step, directory, parts.Sum(p => p.Files.Sum(f => f.Bytes)), snapshotSeconds, clock.Elapsed.TotalSeconds - snapshotSeconds);
    }
}
