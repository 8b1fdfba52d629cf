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
            ["stages"] = job.SiloOfStage.Count.ToString(CultureInfo.InvariantCulture),
            ["optimizer"] = "adam",
        };
    }

    /// <summary>Phase one: captures stage <paramref name="stage"/>'s tensors, writes and syncs one file per rank of its mesh.</summary>
    public static SaveShardsReply Save(ClusterJob job, int stage, PipelineStepRunner runner, SaveShardsRequest request,
                                       Action<CheckpointFault>? faultHook, CancellationToken cancel)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        if (!Directory.Exists(request.StepDirectory))
            throw new CheckpointException($"step directory {request.StepDirectory} does not exist on this silo: the checkpoint directory must be on a filesystem every silo reaches");
        var executor = runner.Workers[stage].Runtime.Executor;
        var (snapshot, _) = CheckpointIO.Capture(executor, request.Step, (ulong)job.Seed, Metadata(job));
        var part = CheckpointPart.Write(request.StepDirectory, snapshot, $"stage-{stage:D3}-", parallel: true, faultHook, cancel);
        return new SaveShardsReply(request.JobId, request.Step, part.ToJson(), clock.Elapsed.TotalSeconds);
    }

    /// <summary>Loads stage <paramref name="stage"/>'s tensors from the checkpoint, resharded to its mesh; a damaged block throws.</summary>
    public static RestoreShardsReply Restore(ClusterJob job, int stage, PipelineStepRunner runner, RestoreShardsRequest request)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var checkpoint = Checkpoint.Open(request.StepDirectory, verify: false);
        if (checkpoint.Manifest.Metadata.TryGetValue("model", out var model) && model != job.Model)
            throw new CheckpointException($"the checkpoint at {checkpoint.Path} is of model {model}, the job trains {job.Model}");
        var executor = runner.Workers[stage].Runtime.Executor;
        CheckpointIO.Restore(executor, checkpoint, part: true);
        var bytes = executor.PersistentTensors.Sum(t => t.Layout.Elements * 4);
        return new RestoreShardsReply(request.JobId, checkpoint.Step, bytes, clock.Elapsed.TotalSeconds);
    }
}
