using Alpa.Client.Transport;
using Alpa.Client.Contracts;
using Alpa.Kernels;
using Alpa.Planner;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>A job on a cluster failed; the message names the silo (and stage) that failed.</summary>
public sealed class ClusterJobException(string message, Exception inner) : AlpaException(message, inner);

/// <summary>
/// Drives a <see cref="ClusterJob"/> from the client (the DriverGrain's role, run in the client process):
/// ships the job to the mesh worker grain of every silo that runs a stage (or part of a stage mesh) once,
/// then per step makes one call per worker and takes the loss from the last stage. The first worker that fails fails the job, naming its
/// silo and the failure (a receive from a dead silo names the dead one).
/// </summary>
public sealed class ClusterJobDriver(IGrainFactory grains, ClusterJob job)
{
    private readonly IReadOnlyList<string> _silos = job.WorkerSilos;

    private IMeshWorkerGrain Worker(int worker) => grains.GetGrain<IMeshWorkerGrain>(_silos[worker]);

    private int Stages => _silos.Count;

    public Task LoadAsync(CancellationToken cancellationToken = default)
    {
        var json = job.ToJson();
        return All("load", s => Worker(s).LoadProgramAsync(new LoadProgramRequest(job.JobId, s, json), cancellationToken));
    }

    /// <summary>Runs step <paramref name="step"/> (0-based) on every worker; returns the last stage's loss.</summary>
    public async Task<double> RunStepAsync(long step, CancellationToken cancellationToken = default)
    {
        var replies = new StepReply[Stages];
        await All($"step {step + 1}", async s => replies[s] = await Worker(s).RunStepAsync(new StepRequest(job.JobId, step), cancellationToken).ConfigureAwait(false))
            .ConfigureAwait(false);
        return replies.Last(r => !double.IsNaN(r.Loss)).Loss;
    }

    /// <summary>Every parameter of the job, assembled from the workers' blocks.</summary>
    public async Task<IReadOnlyDictionary<string, HostTensor>> ReadParametersAsync(CancellationToken cancellationToken = default)
    {
        var replies = new ParametersReply[Stages];
        await All("read parameters", async s => replies[s] = await Worker(s).ReadParametersAsync(new ReadParametersRequest(job.JobId), cancellationToken).ConfigureAwait(false))
            .ConfigureAwait(false);
        return ClusterChecks.Assemble(replies.SelectMany(r => r.Blocks));
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
                throw new ClusterJobException($"job {job.JobId} failed at {what}: the worker on silo {_silos[stage]} reported: {e.Message}", e);
            }
        }
    }
}
