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
    /// <summary>Called on the driver just before the manifest rename (fault-injection tests); may throw to abandon the commit.</summary>
    public Action<CheckpointFault>? FaultHook { get; init; }
}

/// <summary>
/// The driver side of checkpoints across silos, a two-phase commit: every mesh worker writes and syncs
/// its stage's shard files and reports their tiles and checksums (phase one); only when all replied
/// does the driver merge the parts into the manifest, sync it under a temporary name and rename it into
/// place (phase two). A worker that dies in phase one leaves a step directory without a manifest,
/// which is never loaded and is deleted after the next commit.
/// </summary>
public static class ClusterCheckpoints
{
    /// <summary>Saves the state after <paramref name="step"/> steps of the driver's job and commits it.</summary>
    public static async Task<SaveReport> SaveAsync(ClusterJobDriver driver, long step, ClusterCheckpointOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(driver);
        ArgumentNullException.ThrowIfNull(options);
        var clock = Stopwatch.StartNew();
        var directory = CheckpointStore.StepDirectory(options.Directory, step);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        Directory.CreateDirectory(directory);
        DurableFiles.SyncDirectory(options.Directory);
        var replies = await driver.SaveShardsAsync(step, directory, cancellationToken).ConfigureAwait(false);
        var parts = replies.Select(r => CheckpointPart.FromJson(r.PartJson)).ToList();
        var manifest = CheckpointPart.Merge(step, (ulong)driver.Job.Seed, StageCheckpoints.Metadata(driver.Job), parts);
        CheckpointWriter.Commit(directory, manifest, options.FaultHook);
        CheckpointWriter.Retain(options.Directory, options.Keep);
        return new SaveReport(step, directory, parts.Sum(p => p.Files.Sum(f => f.Bytes)), replies.Max(r => r.Seconds), clock.Elapsed.TotalSeconds);
    }
}
