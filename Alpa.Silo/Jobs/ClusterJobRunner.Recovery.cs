using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Planner;
using Alpa.Planner.Models;
using Alpa.Silo.Execution.Cluster;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Jobs;

/// <summary>
/// A job with checkpoints: this, the accepting, silo runs it through <see cref="RecoveringTrainingLoop"/> on the
/// chosen silos (membership from this silo's <see cref="Hosting.Membership.MembershipView"/>), and every loop
/// event becomes a job event: each plan a <c>planned</c> event, each step a <c>step</c> event with its metrics,
/// checkpoints, deaths, waits, restores, skipped checkpoints and resumes a note (<see cref="IJobProgress.Noted"/>).
/// </summary>
public sealed partial class ClusterJobRunner
{
    /// <summary>
    /// How long a silo may take to answer the loop's liveness probe after a failure. Longer than membership's own probe:
    /// a busy silo that misses it is dropped from the job's next plan (loaded test machines showed 2 s too short).
    /// </summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    private async Task RunRecoveringAsync(JobRunContext job, IReadOnlyList<string> silos, JobCheckpoints checkpoints, IJobProgress progress,
                                          CancellationToken cancellationToken)
    {
        var spec = job.Spec;
        var options = new RecoveringTrainingOptions
        {
            JobId = job.JobId, Model = spec.Model!, Steps = spec.Steps, Microbatches = spec.Microbatches, Seed = spec.Seed,
            Checkpoints = new ClusterCheckpointOptions { Directory = checkpoints.Directory, Every = checkpoints.Every, Keep = checkpoints.Keep, Background = !checkpoints.Blocking },
            Recover = checkpoints.Recover, WaitForReplacement = TimeSpan.FromSeconds(checkpoints.WaitForReplacementSeconds),
            MaxRecoveries = checkpoints.MaxRecoveries, Silos = silos, MaxSilos = silos.Count, DevicesPerSilo = spec.Cluster.Devices,
            PeakLearningRate = spec.LearningRate, ItemsPerStep = ItemsPerStep(ModelZoo.Get(spec.Model!)), ProbeTimeout = ProbeTimeout,
        };
        logger.LogInformation("job {Job}: {Model} on silos {Silos}, checkpoints every {Every} step(s) into {Directory}, recovery {Recover}",
            job.JobId, spec.Model, string.Join(", ", silos), checkpoints.Every, checkpoints.Directory, checkpoints.Recover ? "on" : "off");
        var events = new LoopEvents(progress);
        var loop = new RecoveringTrainingLoop(grains, _ => Task.FromResult<IReadOnlyList<string>>([.. view.ActiveSilos().Select(e => e.Address)]), options, events.On);
        events.Stop = loop.RequestStop;
        using var stop = cancellationToken.Register(loop.RequestStop); // as without checkpoints: stop after the running step
        try
        {
            await loop.RunAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (events.Diverged is null && cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException($"job {job.JobId} was cancelled after step {events.Steps}", cancellationToken);
        }
        catch (OperationCanceledException) when (events.Diverged is not null)
        {
            // Stopped below with the reason.
        }
        if (events.Diverged is { } diverged) throw new AlpaException(diverged);
    }

    /// <summary>Tokens per step for models with a <c>tokens</c> input, else samples (the batch).</summary>
    private static long ItemsPerStep(ModelSpec spec) => spec.Build().Inputs.FirstOrDefault(n => n.Name == "tokens")?.Shape.Elements ?? spec.Batch;

    /// <summary>Refuses, naming the field, a checkpoint directory this silo cannot create.</summary>
    private void CheckDirectory(string directory)
    {
        try
        {
            Directory.CreateDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw JobException.BadSpec("checkpoints.directory", $"'{directory}' cannot be created on silo {self.Address}: {e.Message}");
        }
    }

    /// <summary>The loop's events as job progress; a non-finite loss stops the loop (<see cref="Diverged"/> says why).</summary>
    private sealed class LoopEvents(IJobProgress progress)
    {
        private JobPlan? _plan;

        /// <summary>Stops the loop after the running step.</summary>
        public Action? Stop { get; set; }
        /// <summary>Why the job stopped when its loss became NaN or infinite; else null.</summary>
        public string? Diverged { get; private set; }
        /// <summary>Steps done as last reported.</summary>
        public long Steps { get; private set; }

        public void On(TrainingEvent e)
        {
            switch (e.Kind)
            {
                case "planned" when e.Job is { } job:
                    _plan = Planned(job, progress);
                    break;
                case "step" when e.Record is { } r:
                    Steps = e.Step;
                    if (double.IsFinite(r.Loss)) Report(ToDriverStep(r), _plan!, progress);
                    else if (Diverged is null)
                    {
                        Diverged = ClusterJobRunner.Diverged(r.Loss, r.Step);
                        Stop?.Invoke();
                    }
                    break;
                case "finished":
                    break; // the job service's own final event follows
                default:
                    progress.Noted(e.Kind, (int)e.Step, e.Message);
                    break;
            }
        }

        /// <summary>A step of the loop as the driver grain reports one (peaks and timeline from every worker's reply).</summary>
        private static DriverStep ToDriverStep(ClusterStepRecord r) => new(r.Step, r.Loss, r.Seconds, r.ItemsPerSecond, r.StageSeconds,
            r.Replies?.Select(x => x.PeakMemoryBytes).ToList(), r.Replies?.SelectMany(x => x.Events ?? []).ToList());
    }
}
