namespace Alpa.Client.Jobs;

/// <summary>Kinds of <see cref="JobEvent"/>.</summary>
public static class JobEventKinds
{
    public const string Queued = "queued";
    /// <summary>The plan is known (<see cref="JobEvent.Plan"/>).</summary>
    public const string Planned = "planned";
    /// <summary>A step finished (<see cref="JobEvent.Step"/>, <see cref="JobEvent.Loss"/>, <see cref="JobEvent.ItemsPerSecond"/>).</summary>
    public const string Step = "step";
    public const string Finished = "finished";
    /// <summary>The job failed; <see cref="JobEvent.Message"/> says why.</summary>
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static bool IsFinal(string kind) => kind is Finished or Failed or Cancelled;
}

/// <summary>Something that happened to a job, numbered from 1 in order.</summary>
public sealed record JobEvent
{
    public required long Sequence { get; init; }
    /// <summary>One of <see cref="JobEventKinds"/>.</summary>
    public required string Kind { get; init; }
    public required string JobId { get; init; }
    public int? Step { get; init; }
    public double? Loss { get; init; }
    public double? ItemsPerSecond { get; init; }
    /// <summary>Failure reason, or a human-readable note.</summary>
    public string? Message { get; init; }
    /// <summary>The plan, on <c>planned</c>.</summary>
    public JobPlan? Plan { get; init; }
}

/// <summary>Asks for a job's events after <see cref="AfterSequence"/>, waiting up to <see cref="WaitMilliseconds"/> for new ones.</summary>
public sealed record JobEventsRequest(string JobId, long AfterSequence, int WaitMilliseconds);

/// <summary>Events after the requested sequence; <see cref="Final"/> when the job has finished and no more will come.</summary>
public sealed record JobEventsPage(string JobId, IReadOnlyList<JobEvent> Events, bool Final);

/// <summary>Names a job.</summary>
public sealed record JobRef(string JobId);

/// <summary>Jobs, newest first.</summary>
public sealed record JobList(IReadOnlyList<JobInfo> Jobs);
