using Alpa.Client.Transport;
using Alpa.Client.Contracts;
using Alpa.Planner;
using Alpa.Silo.Execution.Collectives;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>A job on a cluster failed; the message names the silo (and stage) that failed.</summary>
public sealed class ClusterJobException(string message, Exception? inner = null) : AlpaException(message, inner!)
{
    /// <summary>The silo blamed for the failure: the dead one when a worker reported a dead peer, else the worker's own silo; null when unknown.</summary>
    public string? Silo { get; init; }
    /// <summary>The stage whose worker reported the failure, or −1.</summary>
    public int Stage { get; init; } = -1;
}

/// <summary>
/// The calls of a <see cref="ClusterJob"/> to its mesh workers (used by <see cref="ClusterTrainingSession"/>, which the DriverGrain hosts):
/// ships the job to the mesh worker grain of every stage's silo once, then per step makes one call per
/// worker and takes the loss from the last stage. The first worker that fails fails the job, naming its
/// silo and the failure (a receive from a dead silo names the dead one).
/// </summary>
public sealed class ClusterJobDriver(IGrainFactory grains, ClusterJob job)
{
    private IMeshWorkerGrain Worker(int stage) => grains.GetGrain<IMeshWorkerGrain>(job.SiloOfStage[stage]);

    private int Stages => job.SiloOfStage.Count;

    public Task LoadAsync(CancellationToken cancellationToken = default)
    {
        var json = job.ToJson();
        return All("load", s => Worker(s).LoadProgramAsync(new LoadProgramRequest(job.JobId, s, json), cancellationToken));
    }

    /// <summary>Runs step <paramref name="step"/> (0-based) on every worker; returns the last stage's loss.</summary>
    public async Task<double> RunStepAsync(long step, CancellationToken cancellationToken = default) =>
        (await RunStepRepliesAsync(step, cancellationToken).ConfigureAwait(false))[^1].Loss;

    /// <summary>Runs step <paramref name="step"/> (0-based) on every worker; returns every stage's reply (the loss is on the last; timed instructions on this driver's clock).</summary>
    public async Task<IReadOnlyList<StepReply>> RunStepRepliesAsync(long step, CancellationToken cancellationToken = default)
    {
        var replies = new StepReply[Stages];
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        await All($"step {step + 1}", async s => replies[s] = ClusterJobView.OnDriverClock(
                await Worker(s).RunStepAsync(new StepRequest(job.JobId, step), cancellationToken).ConfigureAwait(false),
                System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds))
            .ConfigureAwait(false);
        return replies;
    }

    /// <summary>Frees the job on every worker that still answers; failures here are not reported.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        var calls = Enumerable.Range(0, Stages).Select(s => Worker(s).ReleaseJobAsync(new ReleaseJobRequest(job.JobId), cts.Token));
        try
        {
            await Task.WhenAll(calls).WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Serilog.Log.Debug(e, "Releasing job {Job} failed on some silo", job.JobId);
        }
    }

    /// <summary>The job's silo that <paramref name="error"/> names as failed (a dead peer), else the reporting worker's silo.</summary>
    private string Blamed(int stage, Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
            if (e is SiloFailedException { Silo: { } dead }) return dead;
        var named = job.SiloOfStage.Where(s => s != job.SiloOfStage[stage] && error.Message.Contains(s, StringComparison.Ordinal)).ToList();
        return named.Count == 1 ? named[0] : job.SiloOfStage[stage];
    }

    /// <summary>Runs <paramref name="call"/> for every stage at once; the first failure throws, naming its silo.</summary>
    private async Task All(string what, Func<int, Task> call)
    {
        var tasks = Enumerable.Range(0, Stages).Select(s => Named(s, call(s))).ToList();
        while (tasks.Count > 0)
        {
            var done = await Task.WhenAny(tasks).ConfigureAwait(false);
            await done.ConfigureAwait(false);
            tasks.Remove(done);
        }

        async Task Named(int stage, Task task)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new ClusterJobException($"job {job.JobId} failed at {what}: the worker of stage {stage} on silo {job.SiloOfStage[stage]} reported: {e.Message}", e)
                {
                    Silo = Blamed(stage, e), Stage = stage,
                };
            }
        }
    }
}
