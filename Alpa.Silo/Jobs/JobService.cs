using System.Collections.Concurrent;
using System.Security.Cryptography;
using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Serilog.Context;

namespace Alpa.Silo.Jobs;

/// <summary>
/// The silo's jobs: accepts specs, runs each through the <see cref="IJobRunner"/>, keeps live
/// events and metrics in memory and the records in the <see cref="IJobStore"/> (saved on every
/// state change and at most once a second while steps run). At start it marks jobs this silo was
/// running before a restart as failed.
/// </summary>
public sealed class JobService(SiloIdentity self, IJobStore store, IJobRunner runner, IGrainFactory grains, ILogger<JobService> logger) : IHostedService
{
    private const int ListLimit = 200;
    private static readonly TimeSpan SavePeriod = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<string, JobRun> _runs = new(StringComparer.Ordinal);

    /// <summary>Jobs this silo runs or ran since it started.</summary>
    public IReadOnlyCollection<JobRun> Runs => [.. _runs.Values];

    public async Task<JobInfo> SubmitAsync(JobSpec spec, CancellationToken cancellationToken)
    {
        JobSpecCheck.Validate(spec);
        runner.Validate(spec, self.Devices);
        var model = JobSpecCheck.ResolveModel(spec);
        var info = new JobInfo
        {
            Id = "job-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(4)).ToLowerInvariant(),
            Name = string.IsNullOrWhiteSpace(spec.Name) ? model.Name : spec.Name,
            State = JobStates.Queued,
            Silo = self.Address,
            Spec = spec,
            SubmittedAt = DateTimeOffset.UtcNow,
        };
        var run = new JobRun(info);
        _runs[info.Id] = run;
        await store.SaveAsync(info, run.Metrics, cancellationToken).ConfigureAwait(false);
        logger.LogInformation("job {Job} submitted: {Name}, {Steps} steps on {Devices} device(s)", info.Id, info.Name, spec.Steps, spec.Cluster.Devices);
        // The job outlives this call: it must not inherit the submit call's ambient deadline (GrainCallContext), or every
        // grain call of a job across silos fails once the submit call's deadline has passed.
        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(() => ExecuteAsync(run), CancellationToken.None);
        }
        return info;
    }

    public async Task<JobInfo> GetAsync(string jobId, CancellationToken cancellationToken) =>
        _runs.TryGetValue(jobId, out var run) ? run.Info : (await LoadAsync(jobId, cancellationToken).ConfigureAwait(false)).Info;

    public async Task<JobList> ListAsync(CancellationToken cancellationToken)
    {
        var stored = await store.ListAsync(ListLimit, cancellationToken).ConfigureAwait(false);
        var live = _runs.Values.Select(r => r.Info).ToDictionary(i => i.Id, StringComparer.Ordinal);
        var merged = stored.Select(i => live.GetValueOrDefault(i.Id) ?? i).Concat(live.Values.Where(i => stored.All(s => s.Id != i.Id)));
        return new JobList([.. merged.OrderByDescending(i => i.SubmittedAt).Take(ListLimit)]);
    }

    public async Task<JobInfo> CancelAsync(string jobId, CancellationToken cancellationToken)
    {
        if (!_runs.TryGetValue(jobId, out var run))
        {
            var stored = (await LoadAsync(jobId, cancellationToken).ConfigureAwait(false)).Info;
            if (JobStates.IsFinal(stored.State))
            {
                throw JobException.AlreadyFinished(jobId, stored.State);
            }
            return stored.Silo != self.Address
                ? await grains.GetGrain<IJobsGrain>(stored.Silo).CancelAsync(new JobRef(jobId), cancellationToken).ConfigureAwait(false)
                : throw JobException.AlreadyFinished(jobId, "lost when its silo restarted");
        }
        var state = run.Info.State;
        if (JobStates.IsFinal(state))
        {
            throw JobException.AlreadyFinished(jobId, state);
        }
        await run.Cancellation.CancelAsync().ConfigureAwait(false);
        try
        {
            await run.Completion.Task.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A long step is still running; the job stops after it (its state says so then).
        }
        return run.Info;
    }

    public async Task<JobEventsPage> GetEventsAsync(JobEventsRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (_runs.TryGetValue(request.JobId, out var run))
        {
            var wait = TimeSpan.FromMilliseconds(Math.Clamp(request.WaitMilliseconds, 0, 20_000));
            return await run.EventsAsync(request.AfterSequence, wait, cancellationToken).ConfigureAwait(false);
        }
        var (info, metrics) = await LoadAsync(request.JobId, cancellationToken).ConfigureAwait(false);
        if (!JobStates.IsFinal(info.State) && info.Silo != self.Address)
        {
            return await grains.GetGrain<IJobsGrain>(info.Silo).GetEventsAsync(request, cancellationToken).ConfigureAwait(false);
        }
        return new JobEventsPage(info.Id, [.. JobEvents.Replay(info, metrics).Where(e => e.Sequence > request.AfterSequence)], JobStates.IsFinal(info.State));
    }

    public async Task<JobMetrics> GetMetricsAsync(string jobId, CancellationToken cancellationToken)
    {
        if (_runs.TryGetValue(jobId, out var run))
        {
            return run.Metrics;
        }
        var (info, metrics) = await LoadAsync(jobId, cancellationToken).ConfigureAwait(false);
        if (!JobStates.IsFinal(info.State) && info.Silo != self.Address)
        {
            return await grains.GetGrain<IJobsGrain>(info.Silo).GetMetricsAsync(new JobRef(jobId), cancellationToken).ConfigureAwait(false);
        }
        return metrics;
    }

    private async Task<(JobInfo Info, JobMetrics Metrics)> LoadAsync(string jobId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(jobId) || jobId.Length > 64)
        {
            throw JobException.NotFound(jobId ?? "");
        }
        return await store.GetAsync(jobId, cancellationToken).ConfigureAwait(false) ?? throw JobException.NotFound(jobId);
    }

    private async Task ExecuteAsync(JobRun run)
    {
        using var jobProperty = LogContext.PushProperty("job", run.Id);
        using var calls = GrainCallContext.WithJob(run.Id);
        var saver = new ThrottledSave(store, logger, run);
        run.Update(i => i with { State = JobStates.Planning });
        try
        {
            await runner.RunAsync(new JobRunContext(run.Id, run.Info.Spec, self.Address, self.Devices), new SavingProgress(run, saver), run.Cancellation.Token).ConfigureAwait(false);
            run.Finish(JobStates.Done, null);
            logger.LogInformation("job {Job} done: {Steps} steps, last loss {Loss:F4}", run.Id, run.Info.Step, run.Info.LastLoss);
        }
        catch (OperationCanceledException) when (run.Cancellation.IsCancellationRequested)
        {
            run.Finish(JobStates.Cancelled, $"cancelled by a client after step {run.Info.Step}");
            logger.LogInformation("job {Job} cancelled after step {Step}", run.Id, run.Info.Step);
        }
        catch (Exception e)
        {
            run.Finish(JobStates.Failed, e.Message);
            logger.LogError("job {Job} failed: {Reason}", run.Id, e.Message);
        }
        await saver.SaveAsync(force: true).ConfigureAwait(false);
        run.Completion.TrySetResult();
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = Task.Run(RecoverAsync, CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var run in _runs.Values)
        {
            run.Cancellation.Cancel();
        }
        return Task.WhenAll(_runs.Values.Select(r => r.Completion.Task)).WaitAsync(TimeSpan.FromSeconds(5), cancellationToken)
            .ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>Jobs recorded as running here by an earlier incarnation of this silo cannot continue: mark them failed.</summary>
    private async Task RecoverAsync()
    {
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1)).ConfigureAwait(false); // membership applies the schema migrations first
            foreach (var info in await store.ListAsync(ListLimit, CancellationToken.None).ConfigureAwait(false))
            {
                if (info.Silo == self.Address && !JobStates.IsFinal(info.State) && !_runs.ContainsKey(info.Id))
                {
                    var stored = await store.GetAsync(info.Id, CancellationToken.None).ConfigureAwait(false);
                    var failed = info with { State = JobStates.Failed, Error = "the silo restarted while the job ran", FinishedAt = DateTimeOffset.UtcNow };
                    await store.SaveAsync(failed, stored?.Metrics ?? new JobMetrics { JobId = info.Id }, CancellationToken.None).ConfigureAwait(false);
                    logger.LogWarning("job {Job} was running when this silo stopped; marked failed", info.Id);
                }
            }
        }
        catch (Exception e) when (e is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
        {
            logger.LogWarning("could not check the job records after start: {Reason}", e.Message);
        }
    }

    /// <summary>Saves a run's record now (final states) or at most once per <see cref="SavePeriod"/>, one save at a time.</summary>
    private sealed class ThrottledSave(IJobStore store, ILogger logger, JobRun run)
    {
        private readonly SemaphoreSlim _one = new(1, 1);
        private DateTimeOffset _last = DateTimeOffset.MinValue;

        public async Task SaveAsync(bool force)
        {
            if (!force && DateTimeOffset.UtcNow - _last < SavePeriod)
            {
                return;
            }
            await _one.WaitAsync().ConfigureAwait(false);
            try
            {
                _last = DateTimeOffset.UtcNow;
                await store.SaveAsync(run.Info, run.Metrics, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or InvalidOperationException or TimeoutException)
            {
                logger.LogWarning("could not save job {Job}: {Reason}", run.Id, e.Message);
            }
            finally
            {
                _one.Release();
            }
        }
    }

    /// <summary>Forwards progress to the run and saves the record as it changes.</summary>
    private sealed class SavingProgress(JobRun run, ThrottledSave saver) : IJobProgress
    {
        public void Planned(JobPlan plan, string itemUnit)
        {
            run.Planned(plan, itemUnit);
            _ = saver.SaveAsync(force: true);
        }

        public void StepDone(StepMetrics step, IReadOnlyList<TimelineEvent> timeline, IReadOnlyList<long> devicePeakBytes)
        {
            run.StepDone(step, timeline, devicePeakBytes);
            _ = saver.SaveAsync(force: false);
        }

        public void Noted(string kind, int step, string message)
        {
            run.Noted(kind, step, message);
            _ = saver.SaveAsync(force: true);
        }
    }
}
