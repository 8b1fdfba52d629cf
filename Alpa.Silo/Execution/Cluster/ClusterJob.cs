using System.Text.Json;
using System.Text.Json.Serialization;
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

/// <summary>How <see cref="ClusterJob.Create"/> lays a job out on the silos.</summary>
public sealed record ClusterLayout
{
    /// <summary>
    /// N pipeline stages, each on a contiguous group of whole silos (N ≤ silos; the silos split as evenly
    /// as possible, earlier stages taking the extra ones: 3 silos in 2 stages are A+B, C) with a logical mesh of (silos of the group, devices per silo): rows are silos, so a
    /// group of several silos is a stage mesh spanning them. Null: see <see cref="Plan"/>; both null: one stage per silo.
    /// </summary>
    public int? Stages { get; init; }
    /// <summary>A plan (from <c>alpa plan --cluster local:SILOSxDEVICES</c>) to run as is (its stages may share a silo).</summary>
    public Plan? Plan { get; init; }
}

/// <summary>
/// A pipeline training job on a cluster of silos (<c>alpa train --connect</c>). Device d of the plan lives
/// on silo <see cref="Silos"/>[d / <see cref="DevicesPerSilo"/>] (silos in address order), so a stage mesh
/// may span silos: each silo runs the ranks of the mesh it owns, and the stage's collectives run between
/// the silos. Shipped once to the mesh worker grain of every silo in <see cref="WorkerSilos"/> as
/// <c>LoadProgramRequest.ProgramJson</c>; each silo lowers only its own stages of <see cref="PlanJson"/>
/// (the other stages' boundary specs come in <see cref="BoundarySpecs"/>) and generates the step's
/// synthetic batch itself (same seed), so a step message carries only its number.
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
    /// <summary>The cluster's silo addresses in address order: silo i owns devices i·D … i·D + D − 1.</summary>
    public required IReadOnlyList<string> Silos { get; init; }
    /// <summary>CPU devices of every silo (the local cluster spec is silos × this).</summary>
    public required int DevicesPerSilo { get; init; }
    /// <summary>Data-plane tag of the job's boundary transfers (1 … 65534); stage s's collectives use <see cref="CollectiveTag"/>(s).</summary>
    public required int Tag { get; init; }
    /// <summary>The pipeline plan, as <see cref="Planner.Plans.PlanJson"/>.</summary>
    public required string PlanJson { get; init; }
    /// <summary>
    /// Per stage: the spec of every boundary tensor it sends or receives (activations and gradients) as
    /// its pinned lowering holds it, computed once when the job is made; a silo checks its own stages'
    /// lowering against it and routes to and from the other stages by it.
    /// </summary>
    public required IReadOnlyList<IReadOnlyDictionary<string, string[]>> BoundarySpecs { get; init; }
    /// <summary>The cluster spec the plan was made for (e.g. profiled by the PlannerGrain), as <see cref="ClusterJson"/>; null = <see cref="Cluster"/>'s defaults (see <see cref="ReadCluster"/>).</summary>
    public string? ClusterJson { get; init; }

    /// <summary>Adam with ε = 1e-6, as the pipeline checks use (parameters whose gradient is exactly zero stay comparable).</summary>
    public static TrainingOptions Training => new() { Optimizer = new Adam { Epsilon = 1e-6 } };

    /// <summary>Local cluster spec of <paramref name="silos"/> hosts × <paramref name="devices"/> devices with default link numbers.</summary>
    public static ClusterSpec Cluster(int silos, int devices) => BuiltInClusters.ForLocal(silos, devices, 20e9, 8e9, 1e9, 8L << 30);

    /// <summary>Silo of device <paramref name="device"/>.</summary>
    public string SiloOfDevice(int device) => Silos[device / DevicesPerSilo];

    /// <summary>The silos of stage <paramref name="stage"/>'s mesh, in the order of their first device.</summary>
    public IReadOnlyList<string> SilosOfStage(int stage) => [.. ReadPlan().Stages[stage].Devices.Select(SiloOfDevice).Distinct()];

    /// <summary>Silos that run a part of some stage, in address order (one mesh worker grain each).</summary>
    [JsonIgnore]
    public IReadOnlyList<string> WorkerSilos => [.. Silos.Where(s => ReadPlan().Stages.Any(st => st.Devices.Any(d => SiloOfDevice(d) == s)))];

    /// <summary>Data-plane tag of stage <paramref name="stage"/>'s collectives (distinct from <see cref="Tag"/> and from the other stages').</summary>
    public int CollectiveTag(int stage) => 1 + ((Tag + stage) % TransferTags);

    private const int TransferTags = 65534;

    /// <summary>
    /// Plans <paramref name="model"/> for <paramref name="silos"/> × <paramref name="devicesPerSilo"/> devices with the local
    /// cluster spec as <paramref name="layout"/> says (default: one stage per silo), and computes every stage's boundary specs.
    /// </summary>
    public static ClusterJob Create(string jobId, string model, IReadOnlyList<string> silos, int devicesPerSilo, int steps, int microbatches, int seed,
                                    ClusterLayout? layout = null)
    {
        ArgumentNullException.ThrowIfNull(silos);
        if (silos.Count < 1) throw new AlpaException("the cluster has no active silo to train on");
        var plan = MakePlan(model, Cluster(silos.Count, devicesPerSilo), microbatches, layout);
        return FromPlan(jobId, model, Planner.Plans.PlanJson.Write(plan), silos, devicesPerSilo, steps, seed, null);
    }

    /// <summary>
    /// A job running <paramref name="planJson"/> (from <see cref="MakePlan"/>, e.g. through the PlannerGrain) on <paramref name="silos"/>
    /// in device order, lowered for <paramref name="clusterJson"/> (null: the local spec); computes every stage's boundary specs.
    /// </summary>
    public static ClusterJob FromPlan(string jobId, string model, string planJson, IReadOnlyList<string> silos, int devicesPerSilo, int steps, int seed,
                                      string? clusterJson)
    {
        ArgumentNullException.ThrowIfNull(silos);
        var job = new ClusterJob
        {
            JobId = jobId, Model = model, Seed = seed, Steps = steps, Silos = silos, DevicesPerSilo = devicesPerSilo,
            Tag = 1 + (int)((uint)jobId.GetHashCode(StringComparison.Ordinal) % TransferTags), PlanJson = planJson, ClusterJson = clusterJson,
            BoundarySpecs = [],
        };
        return job with { BoundarySpecs = ClusterStages.LowerBoundarySpecs(ModelZoo.Get(model), job.ReadPlan(), job.ReadCluster()) };
    }

    /// <summary>
    /// The plan of <paramref name="model"/> on <paramref name="cluster"/> (one host per silo) as <paramref name="layout"/> says:
    /// a given plan (checked against the graph and the cluster's shape), or N stages on groups of whole silos (default: one per silo).
    /// </summary>
    public static Plan MakePlan(string model, ClusterSpec cluster, int microbatches, ClusterLayout? layout)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var spec = ModelZoo.Get(model);
        return layout?.Plan is { } given ? Checked(given, spec, cluster.Hosts, cluster.DevicesPerHost)
            : PlanFor(spec, model, cluster, microbatches, layout?.Stages ?? cluster.Hosts);
    }

    /// <summary><paramref name="n"/> stages on contiguous groups of whole silos (hosts of <paramref name="cluster"/>), each a mesh (silos of the group, devices per silo).</summary>
    private static Plan PlanFor(ModelSpec spec, string model, ClusterSpec cluster, int microbatches, int n)
    {
        var (layers, silos, devices) = (spec.LayerCount, cluster.Hosts, cluster.DevicesPerHost);
        if (n < 1 || n > silos)
            throw new AlpaException($"--stages {n}: give 1 … {silos} (each stage takes whole silos; for stages inside one silo pass a --plan from 'alpa plan --cluster local:{silos}x{devices}')") { Field = "stages" };
        if (layers < n) throw new AlpaException($"{model} has {layers} layer(s): too few for {n} stages") { Field = "stages" };
        var keys = Enumerable.Range(0, n).Select(i =>
        {
            var hosts = First(i + 1) - First(i);
            return new StageKey(i * layers / n, ((i + 1) * layers / n) - 1, new SubmeshShape(hosts, devices), new LogicalMeshShape(hosts, devices));
        }).ToArray();
        var options = new AutoPlanOptions { Layers = layers, Microbatches = microbatches, Training = Training, Remat = false, FixedStages = keys };
        return AutoPlanner.Plan(spec, cluster, options).Plan;

        // First silo of stage i: earlier stages take the extra silos (they hold more microbatches under 1F1B).
        int First(int i) => ((i * silos) + n - 1) / n;
    }

    /// <summary>A given plan, refused with the reason when it was made for another training graph or cluster shape.</summary>
    private static Plan Checked(Plan plan, ModelSpec spec, int silos, int devices)
    {
        // 'alpa plan' builds the graph with Adam's default ε; ε changes no shape, strategy or spec, so either graph's plan runs.
        var model = spec.Build();
        if (!new[] { Training, new TrainingOptions() }.Any(o => GraphHashing.Compute(TrainingGraph.Build(model, o)) == plan.GraphHash))
            throw new PlanMismatchException($"the plan was made for another training graph than {spec.Name} with Adam and no recomputation; re-run 'alpa plan --model {spec.Name}' for it") { Field = "graph_hash" };
        if (plan.Cluster.Hosts != silos || plan.Cluster.DevicesPerHost != devices)
            throw new PlanMismatchException($"the plan is for {plan.Cluster.Hosts} host(s) × {plan.Cluster.DevicesPerHost} device(s); the cluster has {silos} silo(s) × {devices}: plan with --cluster local:{silos}x{devices}") { Field = "cluster_hash" };
        return plan;
    }

    public string ToJson() => JsonSerializer.Serialize(this);

    public static ClusterJob FromJson(string json) =>
        JsonSerializer.Deserialize<ClusterJob>(json) ?? throw new AlpaException("the job description is empty");

    /// <summary>Learning rate of step <paramref name="step"/> (0-based), as <see cref="Trainer"/> schedules it.</summary>
    public float LearningRate(long step) => (float)Schedule.At((int)step);

    private LearningRateSchedule Schedule => new() { Peak = PeakLearningRate, WarmupSteps = WarmupSteps, TotalSteps = Steps };

    /// <summary>
    /// Lowers every stage of the plan in this process with <paramref name="transport"/> between stages (e.g. the
    /// same training without silos, to compare with; the silos run <see cref="ClusterStages"/>).
    /// </summary>
    public PipelineStepRunner CreateRunner(Func<int, IBoundaryTransport> transport)
    {
        var spec = ModelZoo.Get(Model);
        var plan = ReadPlan();
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), Training);
        return new PipelineStepRunner(spec.Build(), micro, plan, ReadCluster(), (ulong)Seed, transportOfWorker: transport);
    }

    /// <summary>The plan as shipped.</summary>
    public Plan ReadPlan() => _plan ??= Planner.Plans.PlanJson.Read(PlanJson);

    [JsonIgnore]
    private Plan? _plan;

    /// <summary>The cluster spec the stages are lowered for: <see cref="ClusterJson"/>, else the local spec of the silos.</summary>
    public ClusterSpec ReadCluster() => ClusterJson is null ? Cluster(Silos.Count, DevicesPerSilo) : Planner.Cluster.ClusterJson.Parse(ClusterJson);

    /// <summary>The batch of step <paramref name="step"/> (0-based), split into the plan's microbatches.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Microbatches(SyntheticData data, int microbatches, long step) =>
        Pipeline.Microbatches.Split(data.Batch(step), microbatches);

    /// <summary>The same training on one device (same seed, data and schedule): the <c>--check</c> reference, losses and final parameters.</summary>
    public ReferenceRun Reference()
    {
        var spec = ModelZoo.Get(Model);
        var model = spec.Build();
        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, TrainingGraph.Build(model, Training), device, (ulong)Seed);
        var losses = Trainer.Run(runner, new SyntheticData(model, Seed), new TrainerOptions { Steps = Steps, EvalEvery = 0, Schedule = Schedule }).Losses;
        return new ReferenceRun(losses, model.Parameters.ToDictionary(p => p.Name, p => runner.Read(p.Name), StringComparer.Ordinal));
    }
}

/// <summary>Losses and final parameters of a training run.</summary>
public sealed record ReferenceRun(IReadOnlyList<float> Losses, IReadOnlyDictionary<string, HostTensor> Parameters);
