namespace Alpa.Client.Jobs;

/// <summary>Kinds of <see cref="JobEvent"/>.</summary>
public static class JobEventKinds
{
    public const string Queued = "queued";
    /// <summary>The plan is known (<see cref="JobEvent.Plan"/>).</summary>
    public const string Planned = "planned";
    /// <summary>A step finished (<see cref="JobEvent.Step"/>, <see cref="JobEvent.Loss"/>, <see cref="JobEvent.ItemsPerSecond"/>).</summary>
    public const string Step = "step";
    /// <summary>A checkpoint was committed (<see cref="JobEvent.Step"/>: steps it holds).</summary>
    public const string Checkpoint = "checkpoint";
    /// <summary>A silo of the job died (or a step failed while every silo answers); <see cref="JobEvent.Message"/> names it and what the job does next.</summary>
    public const string Died = "died";
    /// <summary>Fewer silos are alive than the job had: it waits for a replacement before re-planning.</summary>
    public const string Waiting = "waiting";
    /// <summary>Every worker loaded a checkpoint (<see cref="JobEvent.Step"/>; 0 when none was committed yet and the job starts again).</summary>
    public const string Restored = "restored";
    /// <summary>A damaged checkpoint was skipped for the next older one.</summary>
    public const string Skipped = "skipped";
    /// <summary>The first step after a restore finished: the job runs again.</summary>
    public const string Resumed = "resumed";
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
