namespace Alpa.Client.Jobs;

/// <summary>States of a job, in the order they happen.</summary>
public static class JobStates
{
    public const string Queued = "queued";
    public const string Planning = "planning";
    public const string Running = "running";
    public const string Done = "done";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>True for <c>done</c>, <c>failed</c> and <c>cancelled</c>: nothing changes any more.</summary>
    public static bool IsFinal(string state) => state is Done or Failed or Cancelled;
}

/// <summary>A job as the cluster records it.</summary>
public sealed record JobInfo
{
    /// <summary>Job id, e.g. <c>job-3f9a1c2e</c>.</summary>
    public required string Id { get; init; }
    /// <summary>The spec's name, or the model's.</summary>
    public required string Name { get; init; }
    /// <summary>One of <see cref="JobStates"/>.</summary>
    public required string State { get; init; }
    /// <summary>The silo that accepted and runs the job.</summary>
    public required string Silo { get; init; }
    /// <summary>Devices the job runs on (<c>cpu:0</c> …).</summary>
    public IReadOnlyList<string> Devices { get; init; } = [];
    /// <summary>The spec as submitted.</summary>
    public required JobSpec Spec { get; init; }
    /// <summary>Steps finished so far.</summary>
    public int Step { get; init; }
    /// <summary>Loss of the last finished step.</summary>
    public double? LastLoss { get; init; }
    /// <summary>Tokens (sequence models) or samples per second over the steps so far.</summary>
    public double? ItemsPerSecond { get; init; }
    /// <summary><c>tokens</c> or <c>samples</c>: the unit of <see cref="ItemsPerSecond"/>.</summary>
    public string ItemUnit { get; init; } = "samples";
    /// <summary>Why the job failed or was cancelled.</summary>
    public string? Error { get; init; }
    public required DateTimeOffset SubmittedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
}

/// <summary>One finished step: loss, wall time, throughput and, for pipelines, each stage's busy seconds.</summary>
public sealed record StepMetrics(int Step, double Loss, double Seconds, double ItemsPerSecond, IReadOnlyList<double>? StageSeconds = null);

/// <summary>Everything measured about a job: its plan, every step, the last step's timeline and device memory.</summary>
public sealed record JobMetrics
{
    public required string JobId { get; init; }
    public JobPlan? Plan { get; init; }
    public IReadOnlyList<StepMetrics> Steps { get; init; } = [];
    /// <summary>Measured events of the last step (see <see cref="TimelineEvent"/>).</summary>
    public IReadOnlyList<TimelineEvent> Timeline { get; init; } = [];
    /// <summary>Largest live bytes per device during the last step, same order as <see cref="JobInfo.Devices"/>.</summary>
    public IReadOnlyList<long> DevicePeakBytes { get; init; } = [];
    /// <summary>
    /// What the job did besides planning and steps, in order: checkpoints, a silo's death, waiting, restores, skipped
    /// checkpoints, resuming (<see cref="JobEventKinds"/>). <see cref="Steps"/> holds each step once, as finally computed
    /// (steps redone after a restore replace the lost ones).
    /// </summary>
    public IReadOnlyList<JobEvent> Notes { get; init; } = [];
}

/// <summary>
/// One measured interval of a step on one device: what the pipeline timeline draws. The
/// in-process runner fills forward / backward / update (and collective) phases per device; the
/// Driver's instruction interpreter reports one event per instruction in the same shape.
/// </summary>
/// <param name="Device">Device name, e.g. <c>cpu:1</c>.</param>
/// <param name="Worker">Silo (mesh worker) that owns the device.</param>
/// <param name="Stage">Pipeline stage index.</param>
/// <param name="Kind"><c>forward</c>, <c>backward</c>, <c>send</c>, <c>recv</c>, <c>collective</c>, <c>update</c> or <c>free</c>.</param>
/// <param name="Microbatch">Microbatch index (0 for per-step work).</param>
/// <param name="StartSeconds">Start, seconds from the beginning of the step.</param>
/// <param name="EndSeconds">End, seconds from the beginning of the step.</param>
public sealed record TimelineEvent(string Device, string Worker, int Stage, string Kind, int Microbatch, double StartSeconds, double EndSeconds);

/// <summary>The plan a job runs, in the dashboard's terms: stages on submeshes of devices.</summary>
public sealed record JobPlan
{
    /// <summary><c>single-device</c> or <c>intra-op</c> (one SPMD mesh); pipelines add more stages.</summary>
    public required string Method { get; init; }
    public required IReadOnlyList<PlanStage> Stages { get; init; }
    /// <summary>Parameter name → storage spec per dim (<c>R</c>, <c>S0</c>, <c>S1</c>, <c>S01</c>).</summary>
    public required IReadOnlyDictionary<string, string[]> ParameterSpecs { get; init; }
    /// <summary>Heavy op → chosen strategy id.</summary>
    public IReadOnlyDictionary<string, string> Strategies { get; init; } = new Dictionary<string, string>();
    public int Microbatches { get; init; } = 1;
}

/// <summary>One pipeline stage: its layers, submesh, devices and predicted vs measured time per step.</summary>
public sealed record PlanStage
{
    public required int Index { get; init; }
    /// <summary>First and last layer (inclusive).</summary>
    public required IReadOnlyList<int> Layers { get; init; }
    /// <summary>[hosts, devices per host].</summary>
    public required IReadOnlyList<int> Submesh { get; init; }
    /// <summary>[n0, n1].</summary>
    public required IReadOnlyList<int> LogicalMesh { get; init; }
    public required string Worker { get; init; }
    public required IReadOnlyList<string> Devices { get; init; }
    /// <summary>The cost model's time of one step of this stage, seconds (null when it could not be planned).</summary>
    public double? PredictedSeconds { get; init; }
    /// <summary>Mean measured step time so far (first step excluded when there are more), seconds.</summary>
    public double? MeasuredSeconds { get; init; }
    /// <summary>Predicted peak bytes per device.</summary>
    public double? PeakMemoryBytes { get; init; }
}
