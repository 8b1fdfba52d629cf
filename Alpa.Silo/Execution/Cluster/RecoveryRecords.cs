using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>Options of a training job across silos that checkpoints and recovers from silo deaths.</summary>
public sealed record RecoveringTrainingOptions
{
    /// <summary>Job id prefix; each (re-)plan runs as job <c>ID-A</c> for attempt A.</summary>
    public required string JobId { get; init; }
    /// <summary>Built-in model name.</summary>
    public required string Model { get; init; }
    /// <summary>Optimizer steps of the job.</summary>
    public required int Steps { get; init; }
    /// <summary>Microbatches per step.</summary>
    public int Microbatches { get; init; } = 2;
    /// <summary>Seed of initialization and data (data order and randomness are a function of seed and step).</summary>
    public int Seed { get; init; }
    /// <summary>Where and how often to checkpoint.</summary>
    public required ClusterCheckpointOptions Checkpoints { get; init; }
    /// <summary>Pipeline stages on groups of whole silos (a stage mesh may span silos); null = one stage per silo. After a death, at most one per silo alive.</summary>
    public int? Stages { get; init; }
    /// <summary>On a silo's death, re-plan on the silos alive and restore the last checkpoint; false fails the job.</summary>
    public bool Recover { get; init; } = true;
    /// <summary>Start from the newest usable checkpoint of the directory instead of step 0.</summary>
    public bool Resume { get; init; }
    /// <summary>After a death, wait up to this long for the job's silo count to be back (a replacement joining) before re-planning on fewer.</summary>
    public TimeSpan WaitForReplacement { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>Silos to start on, in stage order (null: the active silos in membership order, up to <see cref="MaxSilos"/>).</summary>
    public IReadOnlyList<string>? Silos { get; init; }
    /// <summary>Most silos the job uses (null: as many as it starts on).</summary>
    public int? MaxSilos { get; init; }
    /// <summary>Recoveries tolerated before the job fails for good.</summary>
    public int MaxRecoveries { get; init; } = 10;
    /// <summary>
    /// Failures after which every silo still answers (a step past its deadline on an overloaded machine) that are
    /// retried from the last checkpoint on the same silos; the next one fails the job.
    /// </summary>
    public int MaxTransientRetries { get; init; } = 2;
    /// <summary>How long a silo may take to answer the liveness probe.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Devices per silo the job uses (null: every device of the silos, as the first probe reports).</summary>
    public int? DevicesPerSilo { get; init; }
    /// <summary>Peak learning rate of Adam (null: <see cref="ClusterJob.PeakLearningRate"/>'s default).</summary>
    public double? PeakLearningRate { get; init; }
    /// <summary>Tokens (or samples) one step trains on, for <see cref="ClusterStepRecord.ItemsPerSecond"/> of the step events; 0 = report 0.</summary>
    public long ItemsPerStep { get; init; }
    /// <summary>Read every parameter block from the workers after the last step (for <c>--check</c>; see <see cref="RecoveringTrainingResult.Parameters"/>).</summary>
    public bool ReadParameters { get; init; }
}

/// <summary>Something the job did, for logs and the CLI: <c>planned</c>, <c>restored</c>, <c>step</c>, <c>checkpoint</c>, <c>died</c>, <c>waiting</c>, <c>resumed</c>, <c>skipped</c>, <c>finished</c>.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Step">Steps done at that moment.</param>
/// <param name="Message">One line saying what happened.</param>
/// <param name="Timestamp"><see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> when it happened.</param>
public sealed record TrainingEvent(string Kind, long Step, string Message, long Timestamp)
{
    /// <summary>On <c>planned</c>: the job of the new plan (its silos and layout).</summary>
    public ClusterJob? Job { get; init; }
    /// <summary>On <c>step</c>: the step's loss, time, throughput and every worker's reply (timeline, peak memory).</summary>
    public ClusterStepRecord? Record { get; init; }
}

/// <summary>One recovery, with the time each phase took.</summary>
/// <param name="Failure">The failure as the driver saw it (names the silo).</param>
/// <param name="DeadSilos">Silos of the job that no longer answer.</param>
/// <param name="DetectedTimestamp"><see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> when the driver saw the failure.</param>
/// <param name="FailedAtStep">Steps done when it failed.</param>
/// <param name="RestoredStep">Step of the checkpoint restored (0: none committed yet, restarted from initialization).</param>
/// <param name="Silos">Silos of the new plan.</param>
/// <param name="WaitSeconds">Time spent finding live silos (probes, waiting for a replacement).</param>
/// <param name="ReplanSeconds">Planning and loading the new plan's programs on the workers.</param>
/// <param name="RestoreSeconds">Loading the checkpoint on every worker.</param>
/// <param name="FirstStepSeconds">The first step after the restore.</param>
public sealed record RecoveryTiming(string Failure, IReadOnlyList<string> DeadSilos, long DetectedTimestamp, long FailedAtStep, long RestoredStep,
                                    IReadOnlyList<string> Silos, double WaitSeconds, double ReplanSeconds, double RestoreSeconds, double FirstStepSeconds)
{
    /// <summary>Completed steps that were computed again.</summary>
    public long LostSteps => FailedAtStep - RestoredStep;

    /// <summary>
    /// Step of a checkpoint that was being written when the failure came and did not commit (null: none). With background
    /// saves such a failure redoes up to twice the interval (the steps run while it was written, too); any other at most the interval.
    /// </summary>
    public long? UncommittedSave { get; init; }
}

/// <summary>The outcome of a recovering training job.</summary>
/// <param name="Losses">Loss of each step (0-based), as finally computed.</param>
/// <param name="FinalJob">The job of the last plan (its silos and layout).</param>
/// <param name="Recoveries">Each recovery.</param>
/// <param name="Checkpoints">Every committed save.</param>
/// <param name="StartStep">The step the job started from (non-zero when resuming).</param>
public sealed record RecoveringTrainingResult(IReadOnlyList<double> Losses, ClusterJob FinalJob, IReadOnlyList<RecoveryTiming> Recoveries,
                                              IReadOnlyList<SaveReport> Checkpoints, long StartStep)
{
    /// <summary>The workers' parameter blocks after the last step when <see cref="RecoveringTrainingOptions.ReadParameters"/> asked for them; else null.</summary>
    public IReadOnlyList<Alpa.Client.Contracts.ParameterBlock>? Parameters { get; init; }
}
