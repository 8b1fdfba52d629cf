using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Planner.Models;
using Alpa.Planner.Plans;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.Membership;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Jobs;

/// <summary>
/// Runs a job that asks for more than one silo (or all of them) the way <c>alpa train --connect</c>
/// does: one pipeline stage per silo (<see cref="ClusterJob"/>). Without checkpoints its steps are driven
/// by the job's <see cref="IDriverGrain"/>, placed on this, the accepting, silo, through <see cref="DriverClient"/>
/// (the cluster step loop's public API), and a silo that dies fails the job with the driver's reason, which
/// names it. With checkpoints (<see cref="JobSpec.Checkpoints"/>) this silo runs the job through
/// <see cref="RecoveringTrainingLoop"/>, which survives a silo's death (ClusterJobRunner.Recovery.cs).
/// The same seed gives the same losses as <c>train --connect</c>; cancel stops after the running step.
/// </summary>
public sealed partial class ClusterJobRunner(SiloIdentity self, MembershipView view, IGrainFactory grains, ILogger<ClusterJobRunner> logger) : IJobRunner
{
    public void Validate(JobSpec spec, IReadOnlyList<string> devices)
    {
        _ = Choose(spec);
        if (spec.Checkpoints is { } checkpoints) CheckDirectory(checkpoints.Directory);
    }

    public async Task RunAsync(JobRunContext job, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(progress);
        var silos = Choose(job.Spec);
        if (job.Spec.Checkpoints is { } checkpoints)
        {
            await RunRecoveringAsync(job, silos, checkpoints, progress, cancellationToken).ConfigureAwait(false);
            return;
        }
        var (cluster, plan) = await Task.Run(() => Plan(job, silos), cancellationToken).ConfigureAwait(false);
        var jobPlan = Planned(cluster, progress);
        logger.LogInformation("job {Job}: {Model} in {Stages} stage(s) on silos {Silos}, {Microbatches} microbatches, {Steps} steps",
            job.JobId, cluster.Model, plan.Stages.Count, string.Join(", ", cluster.WorkerSilos), plan.Microbatches, job.Spec.Steps);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        string? diverged = null;
        var result = await DriverClient.RunAsync(grains, cluster, step =>
        {
            if (double.IsFinite(step.Loss)) Report(step, jobPlan, progress);
            else if (diverged is null)
            {
                diverged = Diverged(step.Loss, step.Step);
                stop.Cancel(); // the driver stops after this step
            }
        }, stop.Token).ConfigureAwait(false);
        if (diverged is not null) throw new AlpaException(diverged);
        if (result.Status.State == "cancelled")
        {
            throw new OperationCanceledException($"job {job.JobId} was cancelled after step {result.Status.Step}", cancellationToken);
        }
    }

    /// <summary>Reports <paramref name="cluster"/>'s plan to the job service (stages named by their silos); returns it in the dashboard's terms.</summary>
    private static JobPlan Planned(ClusterJob cluster, IJobProgress progress)
    {
        var model = ModelZoo.Get(cluster.Model).Build();
        var jobPlan = PipelineJobs.ToJobPlan(cluster.ReadPlan(), d => ClusterJobView.DeviceName(cluster.Silos[d / cluster.DevicesPerSilo], d, cluster.DevicesPerSilo),
            s => string.Join("+", cluster.SilosOfStage(s)));
        progress.Planned(jobPlan, model.Inputs.Any(n => n.Name == "tokens") ? "tokens" : "samples");
        return jobPlan;
    }

    private static string Diverged(double loss, long step) => $"the loss became {loss} at step {step}; lower the learning rate";

    /// <summary>A step of the driver as the job service's step: loss, throughput, per-stage seconds, timeline and device peaks.</summary>
    private static void Report(DriverStep step, JobPlan plan, IJobProgress progress)
    {
        var peaks = step.StagePeakBytes ?? [];
        progress.StepDone(new StepMetrics((int)step.Step, step.Loss, step.Seconds, step.ItemsPerSecond, step.StageSeconds), step.Events ?? [],
            [.. plan.Stages.SelectMany(s => s.Devices.Select(_ => s.Index < peaks.Count ? peaks[s.Index] : 0))]);
    }

    /// <summary>
    /// The silos of a job: this silo first, then the other active silos by address. Refuses, naming the
    /// field, what the cluster path cannot run (more silos than are active, a model given as JSON, SGD, …).
    /// </summary>
    private List<string> Choose(JobSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var active = view.ActiveSilos();
        var wanted = spec.Cluster.Silos == ClusterRequest.AllSilos ? active.Count : spec.Cluster.Silos;
        if (wanted > active.Count)
        {
            throw JobException.BadSpec("cluster.silos", $"is {wanted}, but the cluster has {active.Count} active silo(s) " +
                $"({string.Join(", ", active.Select(e => e.Address))}); ask for 1 … {active.Count}, or \"all\"");
        }
        var model = CheckTraining(spec, wanted);
        var chosen = active.OrderBy(e => e.Address == self.Address ? 0 : 1).ThenBy(e => e.Address, StringComparer.Ordinal).Take(wanted).ToList();
        if (chosen.FirstOrDefault(e => CpuCount(e) < spec.Cluster.Devices) is { } small)
        {
            throw JobException.BadSpec("cluster.devices", $"is {spec.Cluster.Devices} per silo, but silo {small.Address} has {CpuCount(small)} CPU device(s); " +
                $"ask for 1 … {chosen.Min(CpuCount)}");
        }
        logger.LogDebug("job of {Model} placed on {Silos}", model.Name, string.Join(", ", chosen.Select(e => e.Address)));
        return [.. chosen.Select(e => e.Address)];
    }

    /// <summary>The training a job across silos supports: a built-in model with enough layers, Adam, its own batch split evenly.</summary>
    private static ModelSpec CheckTraining(JobSpec spec, int silos)
    {
        if (string.IsNullOrWhiteSpace(spec.Model))
            throw JobException.BadSpec("modelJson", "— a job across silos trains a built-in model (model); ask for 1 silo to train a JSON model");
        var model = JobSpecCheck.ResolveModel(spec);
        if (spec.Optimizer != "adam")
            throw JobException.BadSpec("optimizer", $"is '{spec.Optimizer}'; a job across silos trains with adam");
        if (spec.Batch is { } batch && batch != model.Batch)
            throw JobException.BadSpec("batch", $"is {batch}; a job across silos uses {model.Name}'s own batch ({model.Batch}): leave it out");
        if (model.Batch % spec.Microbatches != 0)
            throw JobException.BadSpec("microbatches", $"is {spec.Microbatches}, which does not divide {model.Name}'s batch of {model.Batch}");
        if (model.LayerCount < silos)
            throw JobException.BadSpec("cluster.silos", $"is {silos}, but {model.Name} has {model.LayerCount} layer(s): at most one stage per layer");
        return model;
    }

    private static int CpuCount(MembershipEntry entry) => entry.Devices.Count(d => d.StartsWith("cpu:", StringComparison.Ordinal));

    /// <summary>The job's stages on <paramref name="silos"/> (as <c>train --connect</c> plans them) and its plan.</summary>
    private static (ClusterJob Job, Plan Plan) Plan(JobRunContext job, IReadOnlyList<string> silos)
    {
        var spec = job.Spec;
        var cluster = ClusterJob.Create(job.JobId, spec.Model!, silos, spec.Cluster.Devices, spec.Steps, spec.Microbatches, spec.Seed);
        if (spec.LearningRate is { } lr) cluster = cluster with { PeakLearningRate = lr };
        return (cluster, PlanJson.Read(cluster.PlanJson));
    }
}

/// <summary>Sends a job that asks for one silo to the in-process runner, and one asking for more (or all) to the cluster runner.</summary>
public sealed class RoutedJobRunner(LocalJobRunner local, ClusterJobRunner cluster) : IJobRunner
{
    public void Validate(JobSpec spec, IReadOnlyList<string> devices) => Of(spec).Validate(spec, devices);

    public Task RunAsync(JobRunContext job, IJobProgress progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        return Of(job.Spec).RunAsync(job, progress, cancellationToken);
    }

    private IJobRunner Of(JobSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return spec.Cluster.Silos == 1 ? local : cluster;
    }
}
