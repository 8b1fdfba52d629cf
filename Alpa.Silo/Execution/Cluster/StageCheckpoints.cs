using System.Diagnostics;
using System.Globalization;
using Alpa.Client.Contracts;
using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>What one silo captured of a cluster job at a step boundary: a host copy per local stage, not yet written.</summary>
/// <param name="Step">Steps done.</param>
/// <param name="Directory">The step directory the part goes into.</param>
/// <param name="Stages">Each local stage with its snapshot (this silo's ranks of its mesh).</param>
/// <param name="Seconds">Time the capture held the job (copying device buffers to the host).</param>
public sealed record SiloSnapshot(long Step, string Directory, IReadOnlyList<(int Stage, CheckpointSnapshot Snapshot)> Stages, double Seconds);

/// <summary>
/// The worker side of checkpoints of a <see cref="ClusterJob"/>, for any layout: a silo saves the stages it runs,
/// whole or its ranks of a stage mesh spanning silos. Of each tensor it writes the distinct blocks whose lowest
/// holder rank it runs, so the silos of a spanning mesh together store every block exactly once (replicas are not
/// written twice). Shard files are named <c>stage-SSS-rank-RRRRR.bin</c> (RRRRR: the rank in the stage's mesh),
/// so the workers of one job write into the same step directory without colliding. On real machines that
/// directory is on a filesystem every silo mounts (NFS, a cloud file share); on one machine it is a local path.
/// Restoring reads, for every rank a silo runs, only the regions that rank holds, whatever layout saved them.
/// </summary>
public static class StageCheckpoints
{
    /// <summary>Run facts every manifest of a cluster job carries (a restore checks the model and seed).</summary>
    public static IReadOnlyDictionary<string, string> Metadata(ClusterJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["model"] = job.Model,
            ["seed"] = job.Seed.ToString(CultureInfo.InvariantCulture),
            ["steps"] = job.Steps.ToString(CultureInfo.InvariantCulture),
            ["stages"] = job.ReadPlan().Stages.Count.ToString(CultureInfo.InvariantCulture),
            ["optimizer"] = "adam",
        };
    }

    /// <summary>Copies this silo's blocks of every local stage to the host (call between steps; training may go on once it returns).</summary>
    public static SiloSnapshot Capture(ClusterJob job, ClusterStages stages, long step, string stepDirectory)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(stages);
        var clock = Stopwatch.StartNew();
        if (!System.IO.Directory.Exists(stepDirectory))
            throw new CheckpointException($"step directory {stepDirectory} does not exist on this silo: the checkpoint directory must be on a filesystem every silo reaches");
        var metadata = Metadata(job);
        var captured = stages.Stages.Select(s => (s, CheckpointIO.Capture(stages.Runtime(s).Executor, step, (ulong)job.Seed, metadata).Snapshot)).ToList();
        return new SiloSnapshot(step, stepDirectory, captured, clock.Elapsed.TotalSeconds);
    }

    /// <summary>Phase one of a save: writes and syncs the shard files of <paramref name="snapshot"/>; returns this silo's part.</summary>
    public static CheckpointPart Write(SiloSnapshot snapshot, Action<CheckpointFault>? faultHook, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return CheckpointPart.Combine(snapshot.Stages.Select(s =>
            CheckpointPart.Write(snapshot.Directory, s.Snapshot, $"stage-{s.Stage:D3}-", parallel: true, faultHook, cancel)));
    }

    /// <summary>Loads every local stage's blocks from the checkpoint, resharded to this silo's ranks; a damaged block throws.</summary>
    public static RestoreShardsReply Restore(ClusterJob job, ClusterStages stages, RestoreShardsRequest request)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var checkpoint = Checkpoint.Open(request.StepDirectory, verify: false);
        if (checkpoint.Manifest.Metadata.TryGetValue("model", out var model) && model != job.Model)
            throw new CheckpointException($"the checkpoint at {checkpoint.Path} is of model {model}, the job trains {job.Model}");
        long bytes = 0;
        foreach (var s in stages.Stages)
        {
            var executor = stages.Runtime(s).Executor;
            CheckpointIO.Restore(executor, checkpoint, part: true);
            var held = executor.HeldRanks?.Count ?? executor.Plan.Mesh.Devices;
            bytes += executor.PersistentTensors.Sum(t => TileGeometry.TileOf(t.Layout, 0).Elements * 4 * held);
        }
        return new RestoreShardsReply(request.JobId, checkpoint.Step, bytes, clock.Elapsed.TotalSeconds);
    }
}
