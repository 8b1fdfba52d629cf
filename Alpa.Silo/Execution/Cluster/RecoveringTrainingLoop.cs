using System.Diagnostics;
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
/// <see cref="ClusterJobDriver"/>'s public calls, so the same loop can sit in the client or a driver grain.
/// </summary>
public sealed partial class RecoveringTrainingLoop(IGrainFactory grains, Func<CancellationToken, Task<IReadOnlyList<string>>> members,
                                                   RecoveringTrainingOptions options, Action<TrainingEvent>? onEvent = null)
{
    private readonly double[] _losses = new double[options.Steps];
    private readonly List<RecoveryTiming> _recoveries = [];
    private readonly List<SaveReport> _saved = [];
    private long _done;
    private RecoveryTiming? _recovering;
    private int _transient;
    private ClusterCheckpointer? _checkpointer;

    /// <summary>The job's checkpoints: saved in the background while the next steps run (see <see cref="ClusterCheckpointer"/>).</summary>
    private ClusterCheckpointer Checkpointer => _checkpointer ??= new ClusterCheckpointer(options.Checkpoints, report =>
    {
        _saved.Add(report);
        Emit("checkpoint", report.Step, $"checkpoint of step {report.Step} committed ({report.Bytes} bytes; steps waited {report.SnapshotSeconds * 1e3:F0} ms, written in {report.WriteSeconds * 1e3:F0} ms)");
    });

    /// <summary>Runs the job to its last step; throws <see cref="ClusterJobException"/> when it cannot continue.</summary>
    public async Task<RecoveringTrainingResult> RunAsync(CancellationToken cancellationToken = default)
    {
        if (options.Checkpoints.Every < 1) throw new CheckpointException($"--checkpoint-every must be at least 1, got {options.Checkpoints.Every}");
        var (silos, devices) = await StartingSilosAsync(cancellationToken).ConfigureAwait(false);
        if (silos.Count == 0) throw new ClusterJobException("the cluster has no active silo to train on", new InvalidOperationException("no silo"));
        var maxSilos = options.MaxSilos ?? silos.Count;
        silos = [.. silos.Take(maxSilos)];
        long start = 0;
        for (var attempt = 0; ; attempt++)
        {
            var plan = Stopwatch.StartNew();
            var job = ClusterJob.Create($"{options.JobId}-{attempt}", options.Model, silos, devices, options.Steps, options.Microbatches, options.Seed,
                                        options.Stages is { } stages ? new ClusterLayout { Stages = Math.Min(stages, silos.Count) } : null);
            var driver = new ClusterJobDriver(grains, job);
            try
            {
                await driver.LoadAsync(cancellationToken).ConfigureAwait(false);
                Emit("planned", _done, $"job {job.JobId}: {job.WorkerSilos.Count} stage(s) on {string.Join(", ", job.WorkerSilos)}");
                var restore = Stopwatch.StartNew();
                if (attempt > 0 || options.Resume) _done = await RestoreAsync(driver, required: attempt == 0, cancellationToken).ConfigureAwait(false);
                if (attempt == 0) start = _done;
                if (_recovering is { } recovering) _recovering = recovering with { Silos = job.WorkerSilos, RestoredStep = _done, ReplanSeconds = plan.Elapsed.TotalSeconds - restore.Elapsed.TotalSeconds, RestoreSeconds = restore.Elapsed.TotalSeconds };
                await StepsAsync(driver, cancellationToken).ConfigureAwait(false);
                await Checkpointer.FlushAsync(cancellationToken).ConfigureAwait(false);
                await driver.ReleaseAsync(cancellationToken).ConfigureAwait(false);
                Emit("finished", _done, $"finished {_done} steps on {job.WorkerSilos.Count} silo(s) after {_recoveries.Count} recovery(ies)");
                return new RecoveringTrainingResult(_losses, job, _recoveries, _saved, start);
            }
            catch (Exception e) when (e is ClusterJobException && options.Recover && !cancellationToken.IsCancellationRequested)
            {
                var detected = Stopwatch.GetTimestamp();
                await Checkpointer.SettleAsync().ConfigureAwait(false);
                await driver.ReleaseAsync(cancellationToken).ConfigureAwait(false);
                var wait = Stopwatch.StartNew();
                var (alive, dead) = await SurvivorsAsync(job, cancellationToken).ConfigureAwait(false);
                if (dead.Count == 0 && ++_transient > options.MaxTransientRetries) throw;
                if (_recoveries.Count + (_recovering is null ? 0 : 1) >= options.MaxRecoveries)
                    throw new ClusterJobException($"{options.MaxRecoveries} recoveries already; the cluster is unstable (last failure: {e.Message})", e);
                (silos, _) = await WaitForReplacementAsync(alive, maxSilos, devices, cancellationToken).ConfigureAwait(false);
                if (_recovering is not null) _recoveries.Add(_recovering);
                _recovering = new RecoveryTiming(e.Message, dead, detected, _done, 0, silos, wait.Elapsed.TotalSeconds, 0, 0, 0);
                Emit("died", _done, dead.Count == 0
                    ? $"every silo answers after a failure after step {_done} (retry {_transient} of {options.MaxTransientRetries}): {e.Message}"
                    : $"silo {string.Join(", ", dead)} died after step {_done}; re-planning on {silos.Count} silo(s): {string.Join(", ", silos)}");
            }
        }
    }

    /// <summary>Runs the steps after the <c>_done</c> ones to the end, checkpointing on the way.</summary>
    private async Task StepsAsync(ClusterJobDriver driver, CancellationToken cancellationToken)
    {
        for (var step = _done; step < options.Steps; step++)
        {
            var clock = Stopwatch.StartNew();
            _losses[step] = await driver.RunStepAsync(step, cancellationToken).ConfigureAwait(false);
            var done = _done = step + 1;
            Emit("step", done, $"step {done}/{options.Steps}: loss {_losses[step]:F6}");
            if (_recovering is { } recovering && step == recovering.RestoredStep)
            {
                _recoveries.Add(recovering with { FirstStepSeconds = clock.Elapsed.TotalSeconds });
                Emit("resumed", done, $"resumed: first step after restoring step {recovering.RestoredStep} took {clock.Elapsed.TotalMilliseconds:F0} ms ({recovering.LostSteps} step(s) redone)");
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

    private void Emit(string kind, long step, string message)
    {
        if (kind != "step") Log.Information("Training {Job}: {Kind} at step {Step}: {Message}", options.JobId, kind, step, message);
        onEvent?.Invoke(new TrainingEvent(kind, step, message, Stopwatch.GetTimestamp()));
    }
}
