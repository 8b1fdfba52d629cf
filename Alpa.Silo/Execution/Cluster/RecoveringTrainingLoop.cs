using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Checkpoints;
using Serilog;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>
/// The step loop of a training job across silos that survives silo deaths: it checkpoints every N steps
/// (<see cref="ClusterCheckpoints"/>), and when a silo the job uses dies it stops, finds the silos still
/// alive (waiting a while for a replacement), plans the job again on them, restores the last committed
/// checkpoint on every worker (resharded to the new layout) and continues. Data order and randomness are
/// functions of the seed and the step, so the resumed run follows the same trajectory. It uses only
/// <see cref="ClusterJobDriver"/>'s public calls, so the same loop sits in the client (<c>alpa train --connect
/// --recover</c>) and in the accepting silo's job service (a submitted job with checkpoints).
/// </summary>
public sealed partial class RecoveringTrainingLoop(IGrainFactory grains, Func<CancellationToken, Task<IReadOnlyList<string>>> members,
                                                   RecoveringTrainingOptions options, Action<TrainingEvent>? onEvent = null)
{
    private readonly double[] _losses = new double[options.Steps];
    private readonly List<RecoveryTiming> _recoveries = [];
    private readonly List<SaveReport> _saved = [];
    private long _done;
    private long _start;
    private RecoveryTiming? _recovering;
    private int _transient;
    private ClusterCheckpointer? _checkpointer;

    /// <summary>The job's checkpoints: saved in the background while the next steps run (see <see cref="ClusterCheckpointer"/>).</summary>
    private ClusterCheckpointer Checkpointer => _checkpointer ??= new ClusterCheckpointer(options.Checkpoints, report =>
    {
        _saved.Add(report);
        Emit("checkpoint", report.Step, $"checkpoint of step {report.Step} committed ({report.Bytes} bytes; steps waited {report.SnapshotSeconds * 1e3:F0} ms, written in {report.WriteSeconds * 1e3:F0} ms)");
    });
    private volatile bool _stopRequested;

    /// <summary>
    /// Asks the loop to stop after the step now running: it frees the job on its silos and <see cref="RunAsync"/>
    /// throws <see cref="OperationCanceledException"/> (the cancellation token, by contrast, aborts the step).
    /// </summary>
    public void RequestStop() => _stopRequested = true;

    /// <summary>Runs the job to its last step; throws <see cref="ClusterJobException"/> when it cannot continue.</summary>
    public async Task<RecoveringTrainingResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (options.Checkpoints.Every < 1) throw new CheckpointException($"--checkpoint-every must be at least 1, got {options.Checkpoints.Every}");
        var (silos, devices) = await StartingSilosAsync(cancellationToken).ConfigureAwait(false);
        if (silos.Count == 0) throw new ClusterJobException("the cluster has no active silo to train on", new InvalidOperationException("no silo"));
        devices = Math.Min(devices, options.DevicesPerSilo ?? devices);
        var maxSilos = options.MaxSilos ?? silos.Count;
        silos = [.. silos.Take(maxSilos)];
        for (var attempt = 0; ; attempt++)
        {
            var plan = Stopwatch.StartNew();
            var job = ClusterJob.Create($"{options.JobId}-{attempt}", options.Model, silos, devices, options.Steps, options.Microbatches, options.Seed,
                                        options.Stages is { } stages ? new ClusterLayout { Stages = Math.Min(stages, silos.Count) } : null);
            if (options.PeakLearningRate is { } lr) job = job with { PeakLearningRate = lr };
            var driver = new ClusterJobDriver(grains, job);
            try
            {
                var parameters = await AttemptAsync(driver, attempt, plan, cancellationToken).ConfigureAwait(false);
                return new RecoveringTrainingResult(_losses, job, _recoveries, _saved, _start) { Parameters = parameters };
            }
            catch (ClusterJobException e) when (options.Recover && !cancellationToken.IsCancellationRequested && !_stopRequested)
            {
                silos = await RecoverAsync(driver, e, maxSilos, devices, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception)
            {
                await Checkpointer.SettleAsync().ConfigureAwait(false);
                await driver.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>
    /// One plan of the job: loads it on its silos, restores (after a failure, or when resuming), runs the remaining
    /// steps, reads the final parameters when asked for and frees the job.
    /// </summary>
    private async Task<IReadOnlyList<ParameterBlock>?> AttemptAsync(ClusterJobDriver driver, int attempt, Stopwatch plan, CancellationToken cancellationToken)
    {
        var job = driver.Job;
        await driver.LoadAsync(cancellationToken).ConfigureAwait(false);
        Emit("planned", _done, $"job {job.JobId}: {job.WorkerSilos.Count} stage(s) on {string.Join(", ", job.WorkerSilos)}", job);
        var restore = Stopwatch.StartNew();
        if (attempt > 0 || options.Resume) _done = await RestoreAsync(driver, required: attempt == 0, cancellationToken).ConfigureAwait(false);
        if (attempt == 0) _start = _done;
        if (_recovering is { } recovering)
        {
            _recovering = recovering with
            {
                Silos = job.WorkerSilos, RestoredStep = _done, ReplanSeconds = plan.Elapsed.TotalSeconds - restore.Elapsed.TotalSeconds, RestoreSeconds = restore.Elapsed.TotalSeconds,
            };
        }
        await StepsAsync(driver, cancellationToken).ConfigureAwait(false);
        await Checkpointer.FlushAsync(cancellationToken).ConfigureAwait(false);
        var parameters = options.ReadParameters ? await driver.ReadBlocksAsync(cancellationToken).ConfigureAwait(false) : null;
        await driver.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        Emit("finished", _done, $"finished {_done} steps on {job.WorkerSilos.Count} silo(s) after {_recoveries.Count} recovery(ies)");
        return parameters;
    }

    /// <summary>
    /// After a failed attempt: frees it, finds the silos alive (waiting for a replacement) and returns the silos of the
    /// next plan; rethrows when every silo still answers and the transient retries are spent, or the recoveries are.
    /// </summary>
    private async Task<List<string>> RecoverAsync(ClusterJobDriver driver, ClusterJobException failure, int maxSilos, int devices, CancellationToken cancellationToken)
    {
        var detected = Stopwatch.GetTimestamp();
        var uncommitted = await Checkpointer.SettleAsync().ConfigureAwait(false); // a save in flight commits or fails before the restore looks for the newest
        await driver.ReleaseAsync(cancellationToken).ConfigureAwait(false);
        var wait = Stopwatch.StartNew();
        var (alive, dead) = await SurvivorsAsync(driver.Job, cancellationToken).ConfigureAwait(false);
        if (dead.Count == 0 && ++_transient > options.MaxTransientRetries) ExceptionDispatchInfo.Throw(failure);
        var recoveries = _recoveries.Count + (_recovering is null ? 0 : 1);
        if (recoveries >= options.MaxRecoveries)
            throw new ClusterJobException($"{recoveries} recovery(ies) done, at most {options.MaxRecoveries} allowed; the cluster is unstable (last failure: {failure.Message})", failure) { Silo = failure.Silo };
        var (silos, _) = await WaitForReplacementAsync(alive, maxSilos, devices, cancellationToken).ConfigureAwait(false);
        if (_recovering is not null) _recoveries.Add(_recovering);
        _recovering = new RecoveryTiming(failure.Message, dead, detected, _done, 0, silos, wait.Elapsed.TotalSeconds, 0, 0, 0) { UncommittedSave = uncommitted };
        var lostSave = uncommitted is { } s ? $"; the checkpoint of step {s}, still being written, did not commit" : "";
        Emit("died", _done, dead.Count == 0
            ? $"every silo answers after a failure after step {_done} (retry {_transient} of {options.MaxTransientRetries}){lostSave}: {failure.Message}"
            : $"silo {string.Join(", ", dead)} died after step {_done}{lostSave}; re-planning on {silos.Count} silo(s): {string.Join(", ", silos)}");
        return silos;
    }

    /// <summary>Runs the steps after the <c>_done</c> ones to the end, checkpointing on the way; stops (throwing) between steps when asked to.</summary>
    private async Task StepsAsync(ClusterJobDriver driver, CancellationToken cancellationToken)
    {
        for (var step = _done; step < options.Steps; step++)
        {
            if (_stopRequested) throw new OperationCanceledException($"job {options.JobId} stopped after step {_done} as asked");
            var clock = Stopwatch.StartNew();
            var replies = await driver.RunStepRepliesAsync(step, cancellationToken).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            _losses[step] = ClusterJobDriver.Loss(replies);
            var done = _done = step + 1;
            var record = new ClusterStepRecord(done, _losses[step], seconds, options.ItemsPerStep / Math.Max(seconds, 1e-9), [.. replies.Select(r => r.Seconds)], replies);
            Emit("step", done, $"step {done}/{options.Steps}: loss {_losses[step]:F6}", record: record);
            if (_recovering is { } recovering && step == recovering.RestoredStep)
            {
                _recoveries.Add(recovering with { FirstStepSeconds = seconds });
                Emit("resumed", done, $"resumed: first step after restoring step {recovering.RestoredStep} took {seconds * 1e3:F0} ms ({recovering.LostSteps} step(s) redone)");
                _recovering = null;
            }
            await Checkpointer.AfterStepAsync(driver, done, options.Steps, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Restores the newest committed checkpoint every worker loads; a checkpoint a worker finds damaged (while
    /// every silo still answers) is skipped for the next older one. Without any committed checkpoint the job
    /// starts again from initialization (step 0), unless <paramref name="required"/>.
    /// </summary>
    private async Task<long> RestoreAsync(ClusterJobDriver driver, bool required, CancellationToken cancellationToken)
    {
        foreach (var (step, path) in CheckpointStore.Committed(options.Checkpoints.Directory))
        {
            try
            {
                await driver.RestoreShardsAsync(path, cancellationToken).ConfigureAwait(false);
                Emit("restored", step, $"restored step {step} from {path} on {driver.Job.WorkerSilos.Count} silo(s)");
                return step;
            }
            catch (ClusterJobException e)
            {
                var (_, dead) = await SurvivorsAsync(driver.Job, cancellationToken).ConfigureAwait(false);
                if (dead.Count > 0) throw;
                Emit("skipped", step, $"checkpoint of step {step} skipped: {e.InnerException?.Message ?? e.Message}");
            }
        }
        if (required) throw new CheckpointException($"no usable checkpoint in {options.Checkpoints.Directory} to resume from");
        Emit("restored", 0, "no committed checkpoint yet: starting again from initialization (step 0)");
        return 0;
    }

    private void Emit(string kind, long step, string message, ClusterJob? job = null, ClusterStepRecord? record = null)
    {
        if (kind != "step") Log.Information("Training {Job}: {Kind} at step {Step}: {Message}", options.JobId, kind, step, message);
        onEvent?.Invoke(new TrainingEvent(kind, step, message, Stopwatch.GetTimestamp()) { Job = job, Record = record });
    }
}
