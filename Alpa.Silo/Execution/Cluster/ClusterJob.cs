using System.Text.Json;
using Alpa.Kernels;
using Alpa.Planner;
using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Training;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>
/// A pipeline training job on a cluster of silos (<c>alpa train --connect</c>): stage s runs on silo
/// <see cref="SiloOfStage"/>[s]. Shipped once to every mesh worker grain as
/// <c>LoadProgramRequest.ProgramJson</c>; each worker lowers its stage of <see cref="PlanJson"/> and
/// generates the step's synthetic batch itself (same seed), so a step message carries only its number.
/// </summary>
public sealed record ClusterJob
{
    /// <summary>Job id (also names the job's buffers on the workers).</summary>
    public required string JobId { get; init; }
    /// <summary>Built-in model name.</summary>
    public required string Model { get; init; }
    /// <summary>Seed of the initialization and the synthetic data.</summary>
    public int Seed { get; init; }
    /// <summary>Optimizer steps of the job (the learning-rate schedule's length).</summary>
    public required int Steps { get; init; }
    /// <summary>Peak learning rate of Adam.</summary>
    public double PeakLearningRate { get; init; } = 3e-3;
    /// <summary>Linear warmup steps.</summary>
    public int WarmupSteps { get; init; } = 1;
    /// <summary>Silo address of each stage.</summary>
    public required IReadOnlyList<string> SiloOfStage { get; init; }
    /// <summary>CPU devices of every silo (the local cluster spec is silos × this).</summary>
    public required int DevicesPerSilo { get; init; }
    /// <summary>Data-plane tag of the job's boundary transfers (1 … 65534).</summary>
    public required int Tag { get; init; }
    /// <summary>The pipeline plan, as <see cref="Planner.Plans.PlanJson"/>.</summary>
    public required string PlanJson { get; init; }
    /// <summary>The cluster spec the plan was made for (e.g. profiled by the PlannerGrain), as <see cref="ClusterJson"/>; null = <see cref="Cluster"/>'s defaults.</summary>
    public string? ClusterJson { get; init; }

    /// <summary>Adam with ε = 1e-6, as the pipeline checks use (parameters whose gradient is exactly zero stay comparable).</summary>
    public static TrainingOptions Training => new() { Optimizer = new Adam { Epsilon = 1e-6 } };

    /// <summary>Local cluster spec of <paramref name="silos"/> hosts × <paramref name="devices"/> devices with default link numbers.</summary>
    public static ClusterSpec Cluster(int silos, int devices) => BuiltInClusters.ForLocal(silos, devices, 20e9, 8e9, 1e9, 8L << 30);

    /// <summary>
    /// Plans <paramref name="model"/> with one stage per silo (each stage a mesh of that silo's devices, the
    /// model's layers split into nearly equal ranges) and names the silo of each stage.
    /// </summary>
    public static ClusterJob Create(string jobId, string model, IReadOnlyList<string> silos, int devicesPerSilo, int steps, int microbatches, int seed)
    {
        ArgumentNullException.ThrowIfNull(silos);
        var (plan, siloOfStage) = PlanPerSilo(model, Cluster(Math.Max(1, silos.Count), devicesPerSilo), silos, microbatches);
        return FromPlan(jobId, model, Planner.Plans.PlanJson.Write(plan), siloOfStage, devicesPerSilo, steps, seed, null);
    }

    /// <summary>A job running <paramref name="planJson"/> (from <see cref="PlanPerSilo"/>, e.g. through the PlannerGrain) with stage s on <paramref name="siloOfStage"/>[s].</summary>
    public static ClusterJob FromPlan(string jobId, string model, string planJson, IReadOnlyList<string> siloOfStage, int devicesPerSilo, int steps, int seed,
        string? clusterJson) => new()
        {
            JobId = jobId, Model = model, Seed = seed, Steps = steps, SiloOfStage = siloOfStage, DevicesPerSilo = devicesPerSilo,
            Tag = 1 + (int)((uint)jobId.GetHashCode(StringComparison.Ordinal) % 65534), PlanJson = planJson, ClusterJson = clusterJson,
        };

    /// <summary>
    /// Plans <paramref name="model"/> on <paramref name="cluster"/> (one host per silo) with one stage per silo (each stage a mesh of
    /// that silo's devices, the model's layers split into nearly equal ranges); returns the plan and the silo of each stage.
    /// </summary>
    public static (Plan Plan, string[] SiloOfStage) PlanPerSilo(string model, ClusterSpec cluster, IReadOnlyList<string> silos, int microbatches)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(silos);
        if (silos.Count < 1) throw new AlpaException("the cluster has no active silo to train on");
        var devicesPerSilo = cluster.DevicesPerHost;
        var spec = ModelZoo.Get(model);
        var layers = spec.LayerCount;
        if (layers < silos.Count) throw new AlpaException($"{model} has {layers} layer(s): too few for one stage on each of {silos.Count} silos");
        var n = silos.Count;
        var stages = Enumerable.Range(0, n).Select(i => new StageKey(i * layers / n, ((i + 1) * layers / n) - 1,
            new SubmeshShape(1, devicesPerSilo), new LogicalMeshShape(1, devicesPerSilo))).ToArray();
        var plan = AutoPlanner.Plan(spec, cluster, new AutoPlanOptions
        {
            Layers = layers, FixedStages = stages, Microbatches = microbatches, Training = Training, Remat = false,
        }).Plan;
        var siloOfStage = plan.Stages.Select(s => silos[s.Devices[0] / devicesPerSilo]).ToArray();
        for (var s = 0; s < plan.Stages.Count; s++)
            if (plan.Stages[s].Devices.Any(d => silos[d / devicesPerSilo] != siloOfStage[s]))
                throw new AlpaException($"stage {s} of the plan spans silos; a mesh spanning silos is not supported by 'train --connect' yet");
        return (plan, siloOfStage);
    }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static ClusterJob FromJson(string json) =>
        JsonSerializer.Deserialize<ClusterJob>(json) ?? throw new AlpaException("the job description is empty");

    /// <summary>Learning rate of step <paramref name="step"/> (0-based), as <see cref="Trainer"/> schedules it.</summary>
    public float LearningRate(long step) => (float)Schedule.At((int)step);

    private LearningRateSchedule Schedule => new() { Peak = PeakLearningRate, WarmupSteps = WarmupSteps, TotalSteps = Steps };

    /// <summary>
    /// Lowers every stage of the plan in this process (boundary routes need each stage's shardings) with
    /// <paramref name="transport"/> between stages; the caller runs only its own stage's worker.
    /// </summary>
    public PipelineStepRunner CreateRunner(Func<int, IBoundaryTransport> transport)
    {
        var spec = ModelZoo.Get(Model);
        var plan = Planner.Plans.PlanJson.Read(PlanJson);
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), Training);
        var cluster = ClusterJson is null ? Cluster(SiloOfStage.Count, DevicesPerSilo) : Planner.Cluster.ClusterJson.Parse(ClusterJson);
        return new PipelineStepRunner(spec.Build(), micro, plan, cluster, (ulong)Seed, transportOfWorker: transport);
    }

    /// <summary>The batch of step <paramref name="step"/> (0-based), split into the plan's microbatches.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Microbatches(SyntheticData data, int microbatches, long step) =>
        Pipeline.Microbatches.Split(data.Batch(step), microbatches);

    /// <summary>Losses of the same training on one device (same seed, data and schedule): the <c>--check</c> reference.</summary>
    public IReadOnlyList<float> ReferenceLosses()
    {
        var spec = ModelZoo.Get(Model);
        var model = spec.Build();
        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, TrainingGraph.Build(model, Training), device, (ulong)Seed);
        return Trainer.Run(runner, new SyntheticData(model, Seed), new TrainerOptions { Steps = Steps, EvalEvery = 0, Schedule = Schedule }).Losses;
    }
}
