using System.Runtime.CompilerServices;
using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Client.Transport;

namespace Alpa.Client;

/// <summary>Jobs: submit, watch, inspect and cancel (they run on the gateway silo).</summary>
public sealed partial class AlpaClient
{
    private IJobsGrain Jobs => GetGrain<IJobsGrain>(GrainKeys.Gateway);

    /// <summary>Submits a job; returns its id. Throws <see cref="JobException"/> for a malformed spec.</summary>
    public async Task<string> SubmitAsync(JobSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var info = await JobCallAsync(() => Jobs.SubmitAsync(spec, cancellationToken)).ConfigureAwait(false);
        return info.Id;
    }

    /// <summary>The job's record; <see cref="JobException"/> when no such job exists.</summary>
    public Task<JobInfo> GetJobAsync(string jobId, CancellationToken cancellationToken = default) =>
        JobCallAsync(() => Jobs.GetAsync(new JobRef(jobId), cancellationToken));

    /// <summary>Recent jobs, newest first.</summary>
    public async Task<IReadOnlyList<JobInfo>> ListJobsAsync(CancellationToken cancellationToken = default) =>
        (await JobCallAsync(() => Jobs.ListAsync(cancellationToken)).ConfigureAwait(false)).Jobs;

    /// <summary>Cancels a queued or running job; <see cref="JobException"/> (kind <c>conflict</c>) when it has already finished.</summary>
    public Task<JobInfo> CancelAsync(string jobId, CancellationToken cancellationToken = default) =>
        JobCallAsync(() => Jobs.CancelAsync(new JobRef(jobId), cancellationToken));

    /// <summary>Plan, per-step loss and throughput, last step's timeline.</summary>
    public Task<JobMetrics> GetMetricsAsync(string jobId, CancellationToken cancellationToken = default) =>
        JobCallAsync(() => Jobs.GetMetricsAsync(new JobRef(jobId), cancellationToken));

    /// <summary>
    /// The job's events so far after <paramref name="afterSequence"/>, without waiting: planned, steps, checkpoints and
    /// recoveries (died, waiting, restored, skipped, resumed), and the final one once the job has ended.
    /// </summary>
    public async Task<IReadOnlyList<JobEvent>> GetEventsAsync(string jobId, long afterSequence = 0, CancellationToken cancellationToken = default) =>
        (await JobCallAsync(() => Jobs.GetEventsAsync(new JobEventsRequest(jobId, afterSequence, 0), cancellationToken)).ConfigureAwait(false)).Events;

    /// <summary>
    /// The job's events from the first one (planned, each step, then finished / failed / cancelled);
    /// the sequence ends after the final event.
    /// </summary>
    public async IAsyncEnumerable<JobEvent> WatchAsync(string jobId, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long after = 0;
        while (true)
        {
            var page = await JobCallAsync(() => Jobs.GetEventsAsync(new JobEventsRequest(jobId, after, 5000), cancellationToken)).ConfigureAwait(false);
            foreach (var e in page.Events)
            {
                after = e.Sequence;
                yield return e;
            }
            if (page.Final && page.Events.Count == 0 || page.Events.Count > 0 && JobEventKinds.IsFinal(page.Events[^1].Kind))
            {
                yield break;
            }
        }
    }

    private static async Task<T> JobCallAsync<T>(Func<Task<T>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (GrainCallException e) when (e.RemoteType == JobException.WireType)
        {
            throw JobException.FromCall(e);
        }
    }
}
