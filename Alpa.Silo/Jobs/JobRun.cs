using Alpa.Client.Jobs;

namespace Alpa.Silo.Jobs;

/// <summary>
/// A job while this silo runs it: its record, the events so far (numbered from 1) and its metrics.
/// The runner reports into it (<see cref="IJobProgress"/>); readers long-poll its events.
/// </summary>
public sealed class JobRun : IJobProgress
{
    private readonly object _gate = new();
    private readonly List<JobEvent> _events = [];
    private readonly List<StepMetrics> _steps = [];
    private readonly List<JobEvent> _notes = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private JobInfo _info;
    private JobPlan? _plan;
    private IReadOnlyList<TimelineEvent> _timeline = [];
    private IReadOnlyList<long> _peaks = [];

    public JobRun(JobInfo info)
    {
        _info = info;
        Add(new JobEvent { Sequence = 0, Kind = JobEventKinds.Queued, JobId = info.Id });
    }

    public string Id => _info.Id;
    public CancellationTokenSource Cancellation { get; } = new();
    /// <summary>Completes when the job has reached a final state and its record is saved.</summary>
    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public JobInfo Info
    {
        get { lock (_gate) return _info; }
    }

    public JobMetrics Metrics
    {
        get
        {
            lock (_gate)
            {
                return new JobMetrics
                {
                    JobId = _info.Id,
                    Plan = _plan is null ? null : JobPlans.WithMeasured(_plan, _steps),
                    Steps = [.. _steps],
                    Timeline = _timeline,
                    DevicePeakBytes = _peaks,
                    Notes = [.. _notes],
                };
            }
        }
    }

    public void Update(Func<JobInfo, JobInfo> change)
    {
        lock (_gate) _info = change(_info);
    }

    public void Planned(JobPlan plan, string itemUnit)
    {
        lock (_gate)
        {
            _plan = plan;
            _info = _info with { State = JobStates.Running, ItemUnit = itemUnit, Devices = [.. plan.Stages.SelectMany(s => s.Devices)], StartedAt = _info.StartedAt ?? DateTimeOffset.UtcNow };
            Add(new JobEvent { Sequence = 0, Kind = JobEventKinds.Planned, JobId = Id, Plan = plan });
        }
    }

    public void StepDone(StepMetrics step, IReadOnlyList<TimelineEvent> timeline, IReadOnlyList<long> devicePeakBytes)
    {
        ArgumentNullException.ThrowIfNull(step);
        lock (_gate)
        {
            _steps.RemoveAll(s => s.Step >= step.Step); // redone after a restore
            _steps.Add(step);
            _timeline = timeline;
            _peaks = devicePeakBytes;
            var throughput = _steps.Count / _steps.Sum(s => s.Seconds) * (step.ItemsPerSecond * step.Seconds);
            _info = _info with { Step = step.Step, LastLoss = step.Loss, ItemsPerSecond = throughput };
            Add(new JobEvent { Sequence = 0, Kind = JobEventKinds.Step, JobId = Id, Step = step.Step, Loss = step.Loss, ItemsPerSecond = step.ItemsPerSecond });
        }
    }

    public void Noted(string kind, int step, string message)
    {
        if (JobEventKinds.IsFinal(kind)) throw new ArgumentException($"'{kind}' is a final event; the job service sends it", nameof(kind));
        lock (_gate)
        {
            var e = new JobEvent { Sequence = 0, Kind = kind, JobId = Id, Step = step, Message = message };
            _notes.Add(e);
            Add(e);
        }
    }

    /// <summary>Moves to a final state with its event (<paramref name="reason"/> for failed / cancelled).</summary>
    public void Finish(string state, string? reason)
    {
        lock (_gate)
        {
            _info = _info with { State = state, Error = reason, FinishedAt = DateTimeOffset.UtcNow };
            var kind = state switch
            {
                JobStates.Done => JobEventKinds.Finished,
                JobStates.Cancelled => JobEventKinds.Cancelled,
                _ => JobEventKinds.Failed,
            };
            Add(new JobEvent { Sequence = 0, Kind = kind, JobId = Id, Step = _info.Step, Loss = _info.LastLoss, ItemsPerSecond = _info.ItemsPerSecond, Message = reason });
        }
    }

    /// <summary>Events after <paramref name="after"/>; waits up to <paramref name="wait"/> when there are none yet.</summary>
    public async Task<JobEventsPage> EventsAsync(long after, TimeSpan wait, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_gate)
        {
            if (_events.Count > after || JobStates.IsFinal(_info.State))
            {
                return Page(after);
            }
            changed = _changed.Task;
        }
        await Task.WhenAny(changed, Task.Delay(wait, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate) return Page(after);
    }

    private JobEventsPage Page(long after) =>
        new(Id, [.. _events.Skip((int)Math.Max(0, after))], JobStates.IsFinal(_info.State));

    private void Add(JobEvent e)
    {
        _events.Add(e with { Sequence = _events.Count + 1 });
        var changed = _changed;
        _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        changed.TrySetResult();
    }
}
