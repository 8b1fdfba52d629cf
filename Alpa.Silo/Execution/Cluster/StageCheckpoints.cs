using System.Diagnostics;
using System.Globalization;
using Alpa.Client.Contracts;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution.Pipeline;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>
/// The worker side of checkpoints of a <see cref="ClusterJob"/>: a mesh worker saves and restores only
/// the tensors of the stage it runs (each parameter and optimizer state lives in exactly one stage),
/// under that stage's mesh. Shard files are named <c>stage-SSS-rank-RRRRR.bin</c>, so the workers of
/// one job write into the same step directory without colliding. On real machines that directory is
/// on a filesystem every silo mounts (NFS, a cloud file share); on one machine it is a local path.
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

    /// <summary>Phase one: captures stage <paramref name="stage"/>'s tensors, writes and syncs one file per rank of its mesh.</summary>
    public static SaveShardsReply Save(ClusterJob job, ClusterStages stages, string silo, SaveShardsRequest request,
                                       Action<CheckpointFault>? faultHook, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(job);
        var stage = OnlyStage(job, stages, silo);
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        if (!Directory.Exists(request.StepDirectory))
            throw new CheckpointException($"step directory {request.StepDirectory} does not exist on this silo: the checkpoint directory must be on a filesystem every silo reaches");
        var executor = stages.Runtime(stage).Executor;
        var (snapshot, _) = CheckpointIO.Capture(executor, request.Step, (ulong)job.Seed, Metadata(job));
        var part = CheckpointPart.Write(request.StepDirectory, snapshot, $"stage-{stage:D3}-", parallel: true, faultHook, cancel);
        return new SaveShardsReply(request.JobId, request.Step, part.ToJson(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>Loads stage <paramref name="stage"/>'s tensors from the checkpoint, resharded to its mesh; a damaged block throws.</summary>
    public static RestoreShardsReply Restore(ClusterJob job, ClusterStages stages, string silo, RestoreShardsRequest request)
    {
        ArgumentNullException.ThrowIfNull(job);
        var stage = OnlyStage(job, stages, silo);
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var checkpoint = Checkpoint.Open(request.StepDirectory, verify: false);
        if (checkpoint.Manifest.Metadata.TryGetValue("model", out var model) && model != job.Model)
            throw new CheckpointException($"the checkpoint at {checkpoint.Path} is of model {model}, the job trains {job.Model}");
        var executor = stages.Runtime(stage).Executor;
        CheckpointIO.Restore(executor, checkpoint, part: true);
        var bytes = executor.PersistentTensors.Sum(t => t.Layout.Elements * 4);
        return new RestoreShardsReply(request.JobId, checkpoint.Step, bytes, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The one stage <paramref name="silo"/> runs whole; refused (typed) for a silo with several stages or a part of a mesh
    /// spanning silos, whose shards this per-stage format does not yet name.
    /// </summary>
    private static int OnlyStage(ClusterJob job, ClusterStages stages, string silo)
    {
        ArgumentNullException.ThrowIfNull(stages);
        if (stages.Stages is [var stage] && job.SilosOfStage(stage) is [var only] && only == silo) return stage;
        throw new CheckpointException($"silo {silo} runs stage(s) {string.Join(", ", stages.Stages.Select(s => $"{s} on {string.Join("+", job.SilosOfStage(s))}"))} of job {job.JobId}: " +
                                      "checkpoints of cluster jobs need one whole stage per silo (a stage mesh spanning silos or two stages on one silo are not checkpointed yet)");
    }
}
