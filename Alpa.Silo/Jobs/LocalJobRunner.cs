using System.Diagnostics;
using Alpa.Client.Jobs;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Training;
using Alpa.Silo.Cli;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Jobs;

/// <summary>
/// Runs a job in this silo's process on its own CPU devices: one device with the graph executor,
/// or D devices as one SPMD mesh under the intra-op ILP's plan (as <c>alpa train --cluster local:1xD</c>).
/// </summary>
public sealed class LocalJobRunner(ILogger<LocalJobRunner> logger) : IJobRunner
{
    public void Validate(JobSpec spec, IReadOnlyList<string> devices)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(devices);
        if (spec.Cluster.Silos != 1)
        {
            throw JobException.BadSpec("cluster.silos", $"is {spec.Cluster.Silos}; this silo runs a job on its own devices (silos = 1) until the Driver runs jobs across silos");
        }
        var cpus = devices.Count(d => d.StartsWith("cpu:", StringComparison.Ordinal));
        if (spec.Cluster.Devices > cpus)
        {
            throw JobException.BadSpec("cluster.devices", $"is {spec.Cluster.Devices}, but this silo has {cpus} CPU device(s) ({string.Join(",", devices)}); ask for 1 … {Math.Max(1, cpus)}");
        }
        if (spec.Microbatches != 1)
        {
            throw JobException.BadSpec("microbatches", $"is {spec.Microbatches}; the in-process runner trains one microbatch per step (pipelines run on the Driver)");
        }
    }

    public Task RunAsync(JobRunContext job, IJobProgress progress, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Run(job, progress, cancellationToken), cancellationToken,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private void Run(JobRunContext job, IJobProgress progress, CancellationToken cancel)
    {
        var spec = job.Spec;
        var modelSpec = JobSpecCheck.ResolveModel(spec);
        var model = modelSpec.Build(spec.Batch);
        Optimizer optimizer = spec.Optimizer == "sgd" ? new Sgd() : new Adam();
        var training = TrainingGraph.Build(model, new TrainingOptions { Optimizer = optimizer });
        var devices = job.Devices.Take(spec.Cluster.Devices).ToList();
        var intra = Plan(training, devices.Count);
        cancel.ThrowIfCancellationRequested();
        var tokens = model.Inputs.FirstOrDefault(n => n.Name == "tokens");
        var itemsPerStep = tokens?.Shape.Elements ?? model.Inputs.First().Shape[0];
        var plan = JobPlans.From(model, intra, devices, job.Silo, spec.Microbatches);
        progress.Planned(plan, tokens is null ? "samples" : "tokens");
        logger.LogInformation("job {Job}: {Model} on {Devices} ({Method}), {Steps} steps", job.JobId, modelSpec.Name, string.Join(",", devices), plan.Method, spec.Steps);

        var schedule = new LearningRateSchedule
        {
            Peak = spec.LearningRate ?? (optimizer is Adam ? 3e-3 : 0.1),
            WarmupSteps = Math.Max(1, spec.Steps / 10),
            TotalSteps = spec.Steps,
        };
        var data = new SyntheticData(model, spec.Seed);
        using var device = LocalStepRunner.CreateCpuDevice();
        using IStepRunner runner = intra is null || devices.Count == 1
            ? new LocalStepRunner(model, training, device, (ulong)spec.Seed, profile: true)
            : new SpmdStepRunner(model, training, intra, (ulong)spec.Seed);
        for (var step = 0; step < spec.Steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var start = Stopwatch.GetTimestamp();
            var loss = runner.TrainStep(data.Batch(step), (float)schedule.At(step), step + 1);
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (!float.IsFinite(loss))
            {
                throw new AlpaException($"the loss became {loss} at step {step + 1}; lower the learning rate or use sgd");
            }
            var (timeline, peaks) = Measured(runner, training, devices, job.Silo);
            progress.StepDone(new StepMetrics(step + 1, loss, seconds, itemsPerStep / seconds), timeline, peaks);
        }
    }

    /// <summary>The intra-op plan of the mesh; on one device only its predicted time matters (null if the ILP cannot run).</summary>
    private IntraResult? Plan(Graph training, int devices)
    {
        try
        {
            var cluster = LocalClusterProbe.Measure(1, devices);
            return IntraOpPass.RunAllShapes(training, cluster).Best;
        }
        catch (AlpaException e) when (devices == 1)
        {
            logger.LogWarning("no cost-model prediction for one device: {Reason}", e.Message);
            return null;
        }
    }

    private static (IReadOnlyList<TimelineEvent>, IReadOnlyList<long>) Measured(IStepRunner runner, Graph training, List<string> devices, string silo) =>
        runner switch
        {
            LocalStepRunner { LastStep: { } s } => (
                StepTimeline.Build(training, [.. s.NodeSeconds.Select(t => (t, 0.0))], devices, silo), [s.PeakLiveBytes]),
            SpmdStepRunner { LastStep: { } s } => (StepTimeline.Build(training, s.NodeSeconds, devices, silo), s.PeakLiveBytes),
            _ => ([], []),
        };
}
