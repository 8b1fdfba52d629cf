using Alpa.Client.Transport;
using Alpa.Client.Contracts;
using Alpa.Kernels;
using Alpa.Planner;
using Alpa.Silo.Execution.Collectives;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>A job on a cluster failed; the message names the silo (and stage) that failed.</summary>
public sealed class ClusterJobException(string message, Exception? inner = null) : AlpaException(message, inner!)
{
    /// <summary>The silo blamed for the failure: the dead one when a worker reported a dead peer, else the worker's own silo; null when unknown.</summary>
    public string? Silo { get; init; }
    /// <summary>The first stage of the worker that reported the failure (its silo runs that stage or a part of its mesh), or −1.</summary>
    public int Stage { get; init; } = -1;
}

/// <summary>
/// The calls of a <see cref="ClusterJob"/> to its mesh workers (used by <see cref="ClusterTrainingSession"/>, which the DriverGrain hosts):
/// ships the job to the mesh worker grain of every silo that runs a stage (or a part of a stage mesh) once,
/// then per step makes one call per worker and takes the loss from the last stage. The first worker that fails fails the job, naming its
/// silo and the failure (a receive from a dead silo names the dead one).
/// </summary>
public sealed class ClusterJobDriver(IGrainFactory grains, ClusterJob job)
{
    private readonly IReadOnlyList<string> _silos = job.WorkerSilos;

    /// <summary>The worker silos, in call order (one mesh worker grain each; <see cref="RunStepRepliesAsync"/> answers in this order).</summary>
    public IReadOnlyList<string> Silos => _silos;

    private IMeshWorkerGrain Worker(int worker) => grains.GetGrain<IMeshWorkerGrain>(_silos[worker]);

    private int Workers => _silos.Count;

    /// <summary>The job this driver runs.</summary>
    public ClusterJob Job => job;

    public Task LoadAsync(CancellationToken cancellationToken = default)
    {
        var json = job.ToJson();
        return All("load", s => Worker(s).LoadProgramAsync(new LoadProgramRequest(job.JobId, s, json), cancellationToken));
    }

    /// <summary>Runs step <paramref name="step"/> (0-based) on every worker; returns the last stage's loss.</summary>
    public async Task<double> RunStepAsync(long step, CancellationToken cancellationToken = default) =>
        Loss(await RunStepRepliesAsync(step, cancellationToken).ConfigureAwait(false));

    /// <summary>Runs step <paramref name="step"/> (0-based) on every worker; returns every worker's reply (see <see cref="Loss"/>; timed instructions on this driver's clock).</summary>
    public async Task<IReadOnlyList<StepReply>> RunStepRepliesAsync(long step, CancellationToken cancellationToken = default)
    {
        var replies = new StepReply[Workers];
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        await All($"step {step + 1}", async s => replies[s] = ClusterJobView.OnDriverClock(
                await Worker(s).RunStepAsync(new StepRequest(job.JobId, step), cancellationToken).ConfigureAwait(false),
                System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds))
            .ConfigureAwait(false);
        return replies;
    }

    /// <summary>The step's loss: from the last worker that runs a part of the last stage (the others answer NaN).</summary>
    public static double Loss(IReadOnlyList<StepReply> replies) => replies.Last(r => !double.IsNaN(r.Loss)).Loss;

    /// <summary>Every parameter of the job, assembled from the workers' blocks.</summary>
    public async Task<IReadOnlyDictionary<string, HostTensor>> ReadParametersAsync(CancellationToken cancellationToken = default) =>
        ClusterChecks.Assemble(await ReadBlocksAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Every worker's parameter blocks of the job (see <see cref="ClusterChecks.Assemble"/>).</summary>
    public async Task<IReadOnlyList<ParameterBlock>> ReadBlocksAsync(CancellationToken cancellationToken = default)
    {
        var replies = new ParametersReply[Workers];
        await All("read parameters", async s => replies[s] = await Worker(s).ReadParametersAsync(new ReadParametersRequest(job.JobId), cancellationToken).ConfigureAwait(false))
            .ConfigureAwait(false);
        return [.. replies.SelectMany(r => r.Blocks)];

    }

    /// <summary>
    /// Phase one of a checkpoint: every worker copies its blocks to the host and writes and syncs them into <paramref name="stepDirectory"/>;
    /// their replies by worker. With <paramref name="background"/> the workers answer once the copy is taken and write in the background
    /// (collect their parts with <see cref="AwaitShardsAsync"/>).
    /// </summary>
    public async Task<IReadOnlyList<SaveShardsReply>> SaveShardsAsync(long step, string stepDirectory, bool background = false, CancellationToken cancellationToken = default)
    {
        var replies = new SaveShardsReply[Workers];
        await All($"checkpoint of step {step}", async s => replies[s] = await Worker(s).SaveShardsAsync(
            new SaveShardsRequest(job.JobId, step, stepDirectory, background), cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        return replies;
    }

    /// <summary>Every worker's part of the background save of step <paramref name="step"/>, once written and synced; by worker.</summary>
    public async Task<IReadOnlyList<SaveShardsReply>> AwaitShardsAsync(long step, CancellationToken cancellationToken = default)
    {
        var replies = new SaveShardsReply[Workers];
        await All($"checkpoint of step {step}", async s => replies[s] = await Worker(s).AwaitShardsAsync(
            new AwaitShardsRequest(job.JobId, step), cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        return replies;
    }

    /// <summary>Every worker loads its stage from the committed checkpoint at <paramref name="stepDirectory"/>; their replies by worker.</summary>
    public async Task<IReadOnlyList<RestoreShardsReply>> RestoreShardsAsync(string stepDirectory, CancellationToken cancellationToken = default)
    {
        var replies = new RestoreShardsReply[Workers];
        await All($"restore from {stepDirectory}", async s => replies[s] = await Worker(s).RestoreShardsAsync(
            new RestoreShardsRequest(job.JobId, stepDirectory), cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        return replies;
    }

    /// <summary>Frees the job on every worker that still answers; failures here are not reported.</summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(2));
        var calls = Enumerable.Range(0, Workers).Select(s => Worker(s).ReleaseJobAsync(new ReleaseJobRequest(job.JobId), cts.Token));
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
    private string Blamed(int worker, Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
            if (e is SiloFailedException { Silo: { } dead }) return dead;
        var named = _silos.Where(s => s != _silos[worker] && error.Message.Contains(s, StringComparison.Ordinal)).ToList();
        return named.Count == 1 ? named[0] : _silos[worker];
    }

    /// <summary>The stages that <paramref name="silo"/> runs (all of a stage or its part of a mesh spanning silos).</summary>
    private List<int> StagesOf(string silo) =>
        [.. Enumerable.Range(0, job.ReadPlan().Stages.Count).Where(s => job.SilosOfStage(s).Contains(silo, StringComparer.Ordinal))];

    /// <summary>Runs <paramref name="call"/> for every worker at once; the first failure throws, naming its silo.</summary>
    private async Task All(string what, Func<int, Task> call)
    {
        var tasks = Enumerable.Range(0, Workers).Select(s => Named(s, call(s))).ToList();
        while (tasks.Count > 0)
        {
            var done = await Task.WhenAny(tasks).ConfigureAwait(false);
            await done.ConfigureAwait(false);
            tasks.Remove(done);
        }

        async Task Named(int worker, Task task)
        {
            try
            {
                await task.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                var stages = StagesOf(_silos[worker]);
                throw new ClusterJobException($"job {job.JobId} failed at {what}: the worker on silo {_silos[worker]} (stage {string.Join(", ", stages)}) reported: {e.Message}", e)
                {
                    Silo = Blamed(worker, e), Stage = stages.Count > 0 ? stages[0] : -1,
                };
            }
        }
    }
}
