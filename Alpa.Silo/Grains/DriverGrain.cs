using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.Membership;
using Serilog;

namespace Alpa.Silo.Grains;

/// <summary>
/// The driver of one job (see <see cref="IDriverGrain"/>): hosts a <see cref="ClusterTrainingSession"/>
/// in the background, watching membership for the job's silos; records every step and event for
/// <c>GetStatus</c>/<c>Watch</c> and the dashboard's grain page; <c>Cancel</c> stops after the running step.
/// </summary>
public sealed class DriverGrain(GrainActivationContext context, IGrainFactory grains, MembershipView view)
    : IDriverGrain, IGrainStateReporter, IDisposable
{
    private readonly Lock _lock = new();
    private readonly List<DriverStep> _steps = [];
    private readonly List<string> _events = [];
    private readonly CancellationTokenSource _abort = new();
    private readonly ILogger _log = Log.ForContext<DriverGrain>().ForContext("job", context.Key);
    private TaskCompletionSource _changed = NewSignal();
    private ClusterTrainingSession? _session;
    private IReadOnlyList<string> _schedules = [];
    private string _state = "queued";
    private long _totalSteps;
    private string? _error;
    private string? _failedSilo;

    public Task<JobStatus> StartAsync(StartJobRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.JobId != context.Key)
            throw new AlpaException($"the driver of job {context.Key} was asked to start job {request.JobId}; address the driver by the job id");
        var job = ClusterJob.FromJson(request.JobJson);
        if (job.JobId != request.JobId) throw new AlpaException($"the job description is for job {job.JobId}, not {request.JobId}");
        ClusterTrainingSession session;
        lock (_lock)
        {
            if (_session is not null) return Task.FromResult(Status());
            session = _session = new ClusterTrainingSession(grains, job, new ClusterSessionOptions
            {
                OnStep = (record, _) => Record(record),
                IsSiloActive = silo => view.ActiveRow(silo) is not null,
                ItemsPerStep = ItemsPerStep(job.Model),
                ReadParameters = request.ReadParameters,
            });
            _totalSteps = job.Steps;
            _schedules = ClusterJobView.Schedules(job);
            _state = "running";
            AddEvent($"started: {job.ReadPlan().Stages.Count} stage(s) on {StagesText(job)}; driver on {context.Silo}");
        }
        _log.Information("Driving job {Job}: {Stages} stage(s), {Steps} steps", job.JobId, job.ReadPlan().Stages.Count, job.Steps);
        _ = Task.Run(() => RunAsync(session), CancellationToken.None);
        lock (_lock) return Task.FromResult(Status());
    }

    public Task<JobStatus> GetStatusAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock) return Task.FromResult(Status());
    }

    public async Task<DriverProgress> WatchAsync(DriverWatchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var wait = TimeSpan.FromSeconds(Math.Clamp(request.WaitSeconds, 0, 60));
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(wait);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                var status = Status();
                if (_steps.Count > request.AfterStep || status.IsFinal || deadline.IsCancellationRequested)
                    return new DriverProgress(status, [.. _steps.Where(s => s.Step > request.AfterStep)], [.. _events]);
                changed = _changed.Task;
            }
            try
            {
                await changed.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // The wait ran out: answer with what there is.
            }
        }
    }

    public Task<JobStatus> CancelAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_session is null) _state = "cancelled";
            else if (!Status().IsFinal && !_session.StopRequested)
            {
                _session.RequestStop();
                AddEvent($"cancel requested after step {_steps.Count}");
            }
            return Task.FromResult(Status());
        }
    }

    public Task<ParametersReply> ReadParametersAsync(CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (_session?.Parameters is not { } blocks)
                throw new AlpaException($"job {context.Key} has no parameters to read: it is {_state}{(_session is null ? "" : " (parameters are read after the last step when the job was started with ReadParameters)")}");
            return Task.FromResult(new ParametersReply(context.Key, blocks));
        }
    }

    /// <summary>The silos of each stage, "A" or "A+B" for a mesh spanning silos.</summary>
    private static List<string> SilosOfStages(ClusterJob job) =>
        [.. Enumerable.Range(0, job.ReadPlan().Stages.Count).Select(s => string.Join("+", job.SilosOfStage(s)))];

    /// <summary>"A | B+C": the silos of each stage.</summary>
    private static string StagesText(ClusterJob job) => string.Join(" | ", SilosOfStages(job));

    public object DescribeState()
    {
        lock (_lock)
            return new
            {
                status = Status(), stages = _session is { } s ? SilosOfStages(s.Job) : null, schedules = _schedules,
                recent_steps = _steps.TakeLast(20).Select(x => x with { Events = null }).ToList(), events = _events.ToList(),
            };
    }

    public void Dispose()
    {
        _abort.Cancel();
        _abort.Dispose();
    }

    private async Task RunAsync(ClusterTrainingSession session)
    {
        try
        {
            await session.RunAsync(_abort.Token).ConfigureAwait(false);
            Finish(session.StopRequested && _steps.Count < _totalSteps ? "cancelled" : "done", null, null);
        }
        catch (ClusterJobException e)
        {
            Finish("failed", e.Message, e.Silo);
        }
        catch (Exception e) when (e is AlpaException or GrainCallException or OperationCanceledException)
        {
            Finish("failed", e.Message, null);
        }
    }

    private Task Record(ClusterStepRecord r)
    {
        lock (_lock)
        {
            if (_steps.Count > 0) _steps[^1] = _steps[^1] with { Events = null }; // only the newest step keeps its timeline
            _steps.Add(new DriverStep(r.Step, r.Loss, r.Seconds, r.ItemsPerSecond, r.StageSeconds,
                r.Replies?.Select(x => x.PeakMemoryBytes).ToList(), r.Replies?.SelectMany(x => x.Events ?? []).ToList()));
            Signal();
        }
        return Task.CompletedTask;
    }

    private void Finish(string state, string? error, string? failedSilo)
    {
        lock (_lock)
        {
            (_state, _error, _failedSilo) = (state, error, failedSilo);
            AddEvent(error is null ? $"{state} after {_steps.Count} step(s)" : $"failed after {_steps.Count} step(s): {error}");
            Signal();
        }
        if (error is null) _log.Information("Job {Job} {State} after {Steps} step(s)", context.Key, state, _steps.Count);
        else _log.Warning("Job {Job} failed: {Error}", context.Key, error);
    }

    /// <summary>Tokens per step for models with a <c>tokens</c> input, else samples (the batch).</summary>
    private static long ItemsPerStep(string model)
    {
        var spec = Planner.Models.ModelZoo.Get(model);
        var tokens = spec.Build().Inputs.FirstOrDefault(n => n.Name == "tokens");
        return tokens?.Shape.Elements ?? spec.Batch;
    }

    private JobStatus Status() => new(context.Key, _state, _steps.Count, _totalSteps, _steps.Count > 0 ? _steps[^1].Loss : double.NaN, _error, _failedSilo, context.Silo);

    private void AddEvent(string text) => _events.Add($"{DateTimeOffset.UtcNow:HH:mm:ss.fff} {text}");

    /// <summary>Wakes the watchers (call under the lock).</summary>
    private void Signal()
    {
        _changed.TrySetResult();
        _changed = NewSignal();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
