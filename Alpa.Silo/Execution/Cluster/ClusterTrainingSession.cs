using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>One finished step of a cluster job.</summary>
/// <param name="Step">1-based step number.</param>
/// <param name="Loss">Loss of the step (reported by the last stage).</param>
/// <param name="Seconds">Wall time of the step as the session saw it (all stages, including the calls).</param>
/// <param name="ItemsPerSecond">Tokens (or samples, for models without a <c>tokens</c> input) per second of this step.</param>
/// <param name="StageSeconds">Seconds each worker (one per silo of <see cref="ClusterJob.WorkerSilos"/>) spent in the step (its own measurement).</param>
/// <param name="Replies">Every worker's reply (peak memory, timed instructions on the driver's clock).</param>
public sealed record ClusterStepRecord(long Step, double Loss, double Seconds, double ItemsPerSecond, IReadOnlyList<double> StageSeconds,
                                       IReadOnlyList<StepReply>? Replies = null);

/// <summary>A silo of a job died or failed a step; raised once, before the session throws.</summary>
/// <param name="JobId">The job.</param>
/// <param name="Silo">The silo blamed (see <see cref="ClusterJobException.Silo"/>); null when unknown.</param>
/// <param name="Stage">The stage whose worker reported it, or −1 when membership reported it.</param>
/// <param name="Step">0-based step that was running (−1 while loading).</param>
/// <param name="Message">The error, naming the silo.</param>
public sealed record ClusterSiloFailure(string JobId, string? Silo, int Stage, long Step, string Message);

/// <summary>Seams of a <see cref="ClusterTrainingSession"/>: where checkpoints, recovery and job records hook in.</summary>
public sealed record ClusterSessionOptions
{
    /// <summary>0-based step to start at (a resumed job starts after its checkpoint's step); 0 = from the start.</summary>
    public long FirstStep { get; init; }
    /// <summary>Called after every step, in order, before the next step starts (e.g. save a checkpoint, record progress).</summary>
    public Func<ClusterStepRecord, CancellationToken, Task>? OnStep { get; init; }
    /// <summary>Called once when a silo of the job dies or a worker fails, before <see cref="ClusterTrainingSession.RunAsync"/> throws.</summary>
    public Func<ClusterSiloFailure, CancellationToken, Task>? OnSiloFailed { get; init; }
    /// <summary>Membership: whether a silo is still active. Null = do not watch (failures come only from the workers' calls).</summary>
    public Func<string, bool>? IsSiloActive { get; init; }
    /// <summary>How often membership is checked while a step runs.</summary>
    public TimeSpan WatchInterval { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>Tokens (or samples) one step trains on, for <see cref="ClusterStepRecord.ItemsPerSecond"/>; 0 = report 0.</summary>
    public long ItemsPerStep { get; init; }
    /// <summary>Read every parameter block from the workers after the last step, before the job is freed (for <c>--check</c>; see <see cref="ClusterTrainingSession.Parameters"/>).</summary>
    public bool ReadParameters { get; init; }
}

/// <summary>
/// The step loop of a <see cref="ClusterJob"/> (hosted by the DriverGrain): ships the job to the mesh worker
/// of every silo that runs a stage (or a part of a stage mesh) once, runs steps <see cref="ClusterSessionOptions.FirstStep"/> … Steps − 1 (one call
/// per worker per step), reports each step through <see cref="ClusterSessionOptions.OnStep"/>, and fails
/// the job with a <see cref="ClusterJobException"/> naming the silo when a worker call fails or membership
/// stops listing one of the job's silos. <see cref="RequestStop"/> stops after the current step; the token aborts it. The job's buffers are
/// freed on every worker that still answers when the run ends, however it ends.
/// </summary>
public sealed class ClusterTrainingSession(IGrainFactory grains, ClusterJob job, ClusterSessionOptions? options = null)
{
    private readonly ClusterSessionOptions _options = options ?? new ClusterSessionOptions();
    private readonly ClusterJobDriver _driver = new(grains, job);
    private readonly List<ClusterStepRecord> _history = [];
    private readonly Lock _lock = new();
    private volatile bool _stopRequested;

    public ClusterJob Job => job;

    /// <summary>The workers' parameter blocks after the last step when <see cref="ClusterSessionOptions.ReadParameters"/> asked for them; else null.</summary>
    public IReadOnlyList<ParameterBlock>? Parameters { get; private set; }

    /// <summary>Whether <see cref="RequestStop"/> was called.</summary>
    public bool StopRequested => _stopRequested;

    /// <summary>Asks the run to stop after the step now running (the cancellation token, by contrast, aborts the step).</summary>
    public void RequestStop() => _stopRequested = true;

    /// <summary>The steps finished so far (a copy).</summary>
    public IReadOnlyList<ClusterStepRecord> History
    {
        get
        {
            lock (_lock) return [.. _history];
        }
    }

    /// <summary>Loads, runs every remaining step and releases; returns the steps run. Throws <see cref="ClusterJobException"/> naming the failed silo.</summary>
    public async Task<IReadOnlyList<ClusterStepRecord>> RunAsync(CancellationToken cancellationToken = default)
    {
        var step = -1L;
        try
        {
            await Watched(token => _driver.LoadAsync(token), cancellationToken).ConfigureAwait(false);
            for (step = _options.FirstStep; step < job.Steps && !_stopRequested; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var record = await RunStepAsync(step, cancellationToken).ConfigureAwait(false);
                if (_options.OnStep is { } onStep) await onStep(record, cancellationToken).ConfigureAwait(false);
            }
            if (_options.ReadParameters && step == job.Steps)
                await Watched(async token => Parameters = await _driver.ReadBlocksAsync(token).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
            return History;
        }
        catch (ClusterJobException e)
        {
            if (_options.OnSiloFailed is { } failed)
                await failed(new ClusterSiloFailure(job.JobId, e.Silo, e.Stage, step, e.Message), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        finally
        {
            await _driver.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Runs one step (0-based) on every worker and records it.</summary>
    public async Task<ClusterStepRecord> RunStepAsync(long step, CancellationToken cancellationToken = default)
    {
        var start = Stopwatch.GetTimestamp();
        IReadOnlyList<StepReply> replies = [];
        await Watched(async token => replies = await _driver.RunStepRepliesAsync(step, token).ConfigureAwait(false), cancellationToken)
            .ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var record = new ClusterStepRecord(step + 1, ClusterJobDriver.Loss(replies), seconds, _options.ItemsPerStep / Math.Max(seconds, 1e-9), [.. replies.Select(r => r.Seconds)], replies);
        lock (_lock) _history.Add(record);
        return record;
    }

    /// <summary>Runs <paramref name="work"/> while watching membership; a job silo leaving the active set cancels the work and fails it at once.</summary>
    private async Task Watched(Func<CancellationToken, Task> work, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var task = work(stop.Token);
        if (_options.IsSiloActive is { } isActive)
        {
            var watch = WatchAsync(isActive, stop.Token);
            if (await Task.WhenAny(task, watch).ConfigureAwait(false) == watch)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                _ = task.ContinueWith(t => t.Exception, TaskScheduler.Default); // the job already failed; observe the calls' end
                await watch.ConfigureAwait(false);
            }
            await stop.CancelAsync().ConfigureAwait(false);
        }
        await task.ConfigureAwait(false);
    }

    private async Task WatchAsync(Func<string, bool> isActive, CancellationToken token)
    {
        while (true)
        {
            await Task.Delay(_options.WatchInterval, token).ConfigureAwait(false);
            for (var s = 0; s < job.ReadPlan().Stages.Count; s++)
            {
                if (job.SilosOfStage(s).FirstOrDefault(silo => !isActive(silo)) is { } silo)
                    throw new ClusterJobException($"job {job.JobId} failed: silo {silo} (stage {s}) is no longer active in the cluster membership") { Silo = silo, Stage = s };
            }
        }
    }
}
