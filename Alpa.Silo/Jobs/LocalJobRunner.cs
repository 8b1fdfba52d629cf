using System.Diagnostics;
using Alpa.Client.Jobs;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Cli;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Jobs;

/// <summary>
/// Runs a job in this silo's process on its own CPU devices: one device with the graph executor;
/// D devices as one SPMD mesh under the intra-op ILP's plan (as <c>alpa train --cluster local:1xD
/// --method intra-only</c>); with more than one microbatch, the automatic pipeline plan on those
/// devices, run by the in-process driver and mesh workers.
/// </summary>
public sealed class LocalJobRunner(ILogger<LocalJobRunner> logger) : IJobRunner
{
    public void Validate(JobSpec spec, IReadOnlyList<string> devices)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(devices);
        if (spec.Cluster.Silos != 1)
        {
            throw JobException.BadSpec("cluster.silos", $"is {spec.Cluster.Silos}; this runner trains on the accepting silo's own devices (silos = 1); jobs across silos go to the cluster runner");
        }
        var cpus = devices.Count(d => d.StartsWith("cpu:", StringComparison.Ordinal));
        if (spec.Cluster.Devices > cpus)
        {
            throw JobException.BadSpec("cluster.devices", $"is {spec.Cluster.Devices}, but this silo has {cpus} CPU device(s) ({string.Join(",", devices)}); ask for 1 … {Math.Max(1, cpus)}");
        }
    }

    public Task RunAsync(JobRunContext job, IJobProgress progress, CancellationToken cancellationToken) =>
        Task.Factory.StartNew(() => Run(job, progress, cancellationToken), cancellationToken,
            TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>A runner ready to train, its plan, and how to read the measurements of its last step.</summary>
    private sealed record Prepared(IStepRunner Runner, JobPlan Plan, Func<(IReadOnlyList<TimelineEvent>, IReadOnlyList<long>, IReadOnlyList<double>?)> Measure)
    {
        /// <summary>A device the runner uses but does not own.</summary>
        public IDisposable? Device { get; init; }
    }

    private void Run(JobRunContext job, IJobProgress progress, CancellationToken cancel)
    {
        var spec = job.Spec;
        var modelSpec = JobSpecCheck.ResolveModel(spec);
        var model = modelSpec.Build(spec.Batch);
        Optimizer optimizer = spec.Optimizer == "sgd" ? new Sgd() : new Adam();
        var options = new TrainingOptions { Optimizer = optimizer };
        var devices = job.Devices.Take(spec.Cluster.Devices).ToList();
        var prepared = Prepare(modelSpec, model, options, devices, job);
        using var runner = prepared.Runner;
        using var device = prepared.Device;
        cancel.ThrowIfCancellationRequested();
        var tokens = model.Inputs.FirstOrDefault(n => n.Name == "tokens");
        var itemsPerStep = tokens?.Shape.Elements ?? model.Inputs.First().Shape[0];
        progress.Planned(prepared.Plan, tokens is null ? "samples" : "tokens");
        logger.LogInformation("job {Job}: {Model} on {Devices} ({Method}), {Steps} steps", job.JobId, modelSpec.Name, string.Join(",", devices), prepared.Plan.Method, spec.Steps);

        var schedule = new LearningRateSchedule
        {
            Peak = spec.LearningRate ?? (optimizer is Adam ? 3e-3 : 0.1),
            WarmupSteps = Math.Max(1, spec.Steps / 10),
            TotalSteps = spec.Steps,
        };
        var data = new SyntheticData(model, spec.Seed);
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
            var (timeline, peaks, stages) = prepared.Measure();
            progress.StepDone(new StepMetrics(step + 1, loss, seconds, itemsPerStep / seconds, stages), timeline, peaks);
        }
    }

    private Prepared Prepare(ModelSpec modelSpec, Graph model, TrainingOptions options, List<string> devices, JobRunContext job)
    {
        var seed = (ulong)job.Spec.Seed;
        if (job.Spec.Microbatches > 1)
        {
            var (plan, pipeline) = PipelineJobs.Prepare(modelSpec, model, options, LocalClusterProbe.Measure(1, devices.Count), job.Spec.Microbatches, seed);
            return new Prepared(pipeline, PipelineJobs.ToJobPlan(plan, devices, job.Silo),
                () => pipeline.LastStep is { } s ? PipelineJobs.Measured(s, plan, devices, job.Silo) : ([], [], null));
        }
        var training = TrainingGraph.Build(model, options);
        var intra = PlanMesh(training, devices.Count);
        var jobPlan = JobPlans.From(model, intra, devices, job.Silo, 1);
        if (intra is null || devices.Count == 1)
        {
            var cpu = LocalStepRunner.CreateCpuDevice();
            var local = new LocalStepRunner(model, training, cpu, seed, profile: true);
            return new Prepared(local, jobPlan, () => local.LastStep is { } s
                ? (StepTimeline.Build(training, [.. s.NodeSeconds.Select(t => (t, 0.0))], devices, job.Silo), [s.PeakLiveBytes], null)
                : ([], [], null)) { Device = cpu };
        }
        var spmd = new SpmdStepRunner(model, training, intra, seed);
        return new Prepared(spmd, jobPlan, () => spmd.LastStep is { } s
            ? (StepTimeline.Build(training, s.NodeSeconds, devices, job.Silo), s.PeakLiveBytes, null)
            : ([], [], null));
    }

    /// <summary>The intra-op plan of the mesh; on one device only its predicted time matters (null if the ILP cannot run).</summary>
    private IntraResult? PlanMesh(Graph training, int devices)
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
}
