using System.Security.Cryptography;
using System.Text;
using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;

namespace Alpa.Planner.Planning;

/// <summary>Which part of the search space to plan in (the last two are Alpa's ablations, paper §8.3).</summary>
public enum PlanMethod
{
    /// <summary>Inter- and intra-operator parallelism together.</summary>
    Auto,
    /// <summary>One stage on the whole cluster: intra-operator parallelism only.</summary>
    IntraOnly,
    /// <summary>Pipeline stages of one device each: inter-operator parallelism only.</summary>
    InterOnly,
}

/// <summary>Options of <see cref="AutoPlanner.Plan"/>.</summary>
public sealed record AutoPlanOptions
{
    public PlanMethod Method { get; init; } = PlanMethod.Auto;
    /// <summary>Microbatch count B; null tries the powers of two that divide the global batch, up to <see cref="MaxMicrobatches"/>.</summary>
    public int? Microbatches { get; init; }
    /// <summary>Largest microbatch count tried when <see cref="Microbatches"/> is null.</summary>
    public int MaxMicrobatches { get; init; } = 64;
    /// <summary>
    /// Try every microbatch count (true), or (false, the default) try them from the most down and
    /// stop at the first that is worse than the one before or fits no plan: the step time is
    /// unimodal in B in practice (fewer microbatches: bigger bubble; more: smaller, less efficient
    /// kernels), and this skips most of the intra-op solves. Reported in the plan's DP reports.
    /// </summary>
    public bool ExhaustiveMicrobatches { get; init; }
    /// <summary>Number of clustered layers L; null groups the model's marked layers into at most <see cref="MaxAutoLayers"/>.</summary>
    public int? Layers { get; init; }
    /// <summary>Largest L chosen automatically (Alpa's GPT benchmarks cluster into at most 16 layers).</summary>
    public int MaxAutoLayers { get; init; } = 16;
    /// <summary>Pipeline schedule.</summary>
    public PipelineSchedule Schedule { get; init; } = PipelineSchedule.OneFOneB;
    /// <summary>Per-device memory budget of the intra-op ILP in bytes (null: none; the stage DP still checks device memory).</summary>
    public double? MemoryBudgetBytes { get; init; }
    /// <summary>Intra-op solver.</summary>
    public IntraSolverKind Solver { get; init; } = IntraSolverKind.Ilp;
    /// <summary>How the training graph is built (optimizer, precision); its Remat is overridden by <see cref="Remat"/>.</summary>
    public TrainingOptions Training { get; init; } = new();
    /// <summary>
    /// Activation recomputation: true or false forces it; null (auto) plans without it and, when
    /// no plan fits memory, plans again with it (Alpa's and Megatron's GPT runs recompute).
    /// </summary>
    public bool? Remat { get; init; }
    /// <summary>Submesh shapes the stage DP may use.</summary>
    public SubmeshSpace SubmeshSpace { get; init; } = SubmeshSpace.All;
    /// <summary>
    /// Wraps the stage cost provider the DP will use, e.g. to time it (the planner itself has no clock).
    /// Must not change the costs.
    /// </summary>
    public Func<IStageCostProvider, IStageCostProvider>? Instrument { get; init; }
    /// <summary>Threads evaluating stage candidates (−1: all cores); the plan does not depend on it.</summary>
    public int MaxParallelism { get; init; } = -1;
    /// <summary>
    /// Given stages (clustered layer ranges over <see cref="Layers"/> layers, submeshes, logical meshes)
    /// instead of the stage DP's choice; needs <see cref="Microbatches"/>. Null: the DP chooses.
    /// </summary>
    public IReadOnlyList<StageKey>? FixedStages { get; init; }
}

/// <summary>A plan and what it took to make it.</summary>
public sealed record AutoPlanResult
{
    public required InterOpResult Result { get; init; }
    /// <summary>Clustered layers L.</summary>
    public required int Layers { get; init; }
    /// <summary>Intra-op solves performed (distinct layer structures × meshes × microbatch sizes).</summary>
    public required int IntraSolves { get; init; }
    /// <summary>The intra-op solves behind the plan's stage costs.</summary>
    public required SolverSummary Solver { get; init; }
    /// <summary>Whether the plan recomputes activations in the backward pass.</summary>
    public required bool Remat { get; init; }
    public Plan Plan => Result.Plan;
}

/// <summary>
/// Alpa's two-level search for a model on a cluster: layer clustering, stage costs from the intra-op
/// ILP, the stage–mesh DP, placement, instruction lists and their simulation. Pure: no clock; the
/// caller fills <see cref="Plan.CompileSeconds"/>.
/// </summary>
public static class AutoPlanner
{
    public static AutoPlanResult Plan(ModelSpec model, ClusterSpec cluster, AutoPlanOptions? options = null,
                                      IProgress<InterOpProgress>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(cluster);
        options ??= new AutoPlanOptions();
        cluster.Validate();
        if (options.Remat is { } remat) return PlanOnce(model, cluster, options, options.Training with { Remat = remat }, progress);
        // Auto: plan without recomputation; when nothing fits, plan with it. (The descending
        // microbatch search tries the most microbatches, the least activation memory, first, so an
        // infeasible first attempt costs one batch of candidates.)
        try
        {
            return PlanOnce(model, cluster, options, options.Training with { Remat = false }, progress);
        }
        catch (InterOpException e) when (e.Field is "memory" or "memory_budget")
        {
            return PlanOnce(model, cluster, options, options.Training with { Remat = true }, progress);
        }
    }

    private static AutoPlanResult PlanOnce(ModelSpec model, ClusterSpec cluster, AutoPlanOptions options, TrainingOptions training0,
                                           IProgress<InterOpProgress>? progress)
    {
        var forward = model.Build();
        var training = TrainingGraph.Build(forward, training0);
        var layersWanted = options.Method switch
        {
            PlanMethod.IntraOnly => 1,
            PlanMethod.InterOnly => cluster.Devices,
            _ => options.Layers ?? Math.Min(options.MaxAutoLayers, MarkedLayers(forward)),
        };
        var clustering = options.Method == PlanMethod.InterOnly
            ? ClusterOnePerDevice(forward, model.Name, cluster.Devices)
            : Cluster(forward, layersWanted, exact: options.Layers is not null || options.Method != PlanMethod.Auto);
        var intra = new IntraOptions { MemoryBudgetBytes = options.MemoryBudgetBytes, Solver = options.Solver };
        var costs = new IntraStageCosts(b => TrainingGraph.Build(model.Build(b), training0), model.Batch, cluster, forward, clustering, intra);
        IStageCostProvider provider = options.Method == PlanMethod.InterOnly ? new SingleDeviceStages(costs) : costs;
        if (options.Instrument is { } instrument) provider = instrument(provider);
        var problem = new InterOpProblem
        {
            GraphHash = GraphHashing.Compute(training),
            Cluster = ToInterOp(cluster),
            Costs = provider,
            MicrobatchCandidates = MicrobatchCandidates(model.Batch, options),
        };
        var inter = new InterOpOptions
        {
            Schedule = options.Schedule,
            Microbatches = options.Microbatches,
            SubmeshSpace = options.SubmeshSpace,
            MaxParallelism = options.MaxParallelism,
        };
        InterOpResult result;
        try
        {
            result = options.FixedStages is { } stages
                ? InterOpPass.PlanFixed(problem, stages, options.Microbatches ?? throw new InterOpException("fixed stages need a microbatch count") { Field = "microbatches" }, options.Schedule)
                : options.Microbatches is null && options.ExhaustiveMicrobatches == false
                ? DescendingMicrobatchSearch(problem, inter, progress)
                : InterOpPass.Plan(problem, inter, progress);
        }
        catch (InterOpException e) when (e.Field == "memory" && options.MemoryBudgetBytes is { } budget && costs.TightestLayer is { } tight)
        {
            throw new InterOpException(
                $"no plan fits the per-device memory budget of {budget / (1L << 30):0.###} GiB: marked layer {tight.Layer} alone needs at least " +
                $"{tight.Bytes / (1L << 30):0.###} GiB per device on its best mesh; raise --memory-budget or plan on more devices") { Field = "memory_budget" };
        }
        return new AutoPlanResult { Result = result, Layers = clustering.LayerCount, IntraSolves = costs.Solves, Solver = costs.Summary, Remat = training0.Remat };
    }

    /// <summary>
    /// Groups the marked layers into <paramref name="layers"/> clustered layers, or, unless the count
    /// was asked for exactly, into the largest smaller count that meets eq. 6's balance constraints.
    /// </summary>
    private static LayerClusteringResult Cluster(Graph.Graph forward, int layers, bool exact)
    {
        for (var l = layers; ; l--)
        {
            try
            {
                return LayerClustering.Cluster(forward, new LayerClusteringOptions { UseMarkedLayers = true, Layers = l });
            }
            catch (InterOpException) when (!exact && l > 1)
            {
            }
        }
    }

    /// <summary>
    /// The inter-only ablation needs exactly one layer per device. Stage costs come per marked layer,
    /// so a model with fewer marked layers than devices cannot be planned this way (a typed error
    /// says so); when eq. 6's balance rules (δ = 0.5, ≥ 3 heavy ops) allow no such cut, they are
    /// relaxed step by step (δ up to 4, one heavy op) rather than giving up.
    /// </summary>
    private static LayerClusteringResult ClusterOnePerDevice(Graph.Graph forward, string model, int devices)
    {
        var marked = MarkedLayers(forward);
        if (marked < devices)
            throw new InterOpException(
                $"inter-only puts one pipeline stage on each of the {devices} devices, but '{model}' marks only {marked} layers " +
                $"and stage costs are computed per marked layer; run it on at most {marked} devices") { Field = "method" };
        InterOpException? last = null;
        foreach (var (delta, heavy) in new[] { (0.5, 3), (0.5, 1), (1.0, 1), (2.0, 1), (4.0, 1) })
        {
            try
            {
                var options = new LayerClusteringOptions { UseMarkedLayers = true, Layers = devices, Delta = delta, MinHeavyOpsPerLayer = heavy };
                return LayerClustering.Cluster(forward, options);
            }
            catch (InterOpException e) when (e.Field == "layers")
            {
                last = e;
            }
        }
        throw last!;
    }

    private static int MarkedLayers(Graph.Graph forward) => forward.Nodes.Max(n => n.Layer) + 1;

    internal static InterOpResult DescendingMicrobatchSearch(InterOpProblem problem, InterOpOptions inter, IProgress<InterOpProgress>? progress)
    {
        InterOpResult? best = null;
        var reports = new List<StageDpReport>();
        InterOpException? first = null;
        foreach (var b in problem.MicrobatchCandidates.OrderDescending())
        {
            InterOpResult r;
            try
            {
                r = InterOpPass.Plan(problem, inter with { Microbatches = b }, progress);
            }
            catch (InterOpException e) when (e.Field == "memory")
            {
                // Fewer microbatches only make each one larger: nothing below fits either.
                first ??= e;
                break;
            }
            reports.AddRange(r.Reports);
            if (best is not null && r.Plan.DpObjectiveSeconds >= best.Plan.DpObjectiveSeconds) break;
            best = r;
        }
        if (best is null) throw first ?? new InterOpException("no microbatch count to try") { Field = "microbatches" };
        return best with { Reports = reports };
    }

    /// <summary>The facts of <paramref name="cluster"/> the stage DP and simulator use, with the spec's hash.</summary>
    public static InterOpCluster ToInterOp(ClusterSpec cluster) => new()
    {
        Name = $"{cluster.Name}:{cluster.Hosts}x{cluster.DevicesPerHost}",
        Hosts = cluster.Hosts,
        DevicesPerHost = cluster.DevicesPerHost,
        DeviceMemoryBytes = cluster.Device.MemoryBytes,
        IntraHostBandwidth = cluster.IntraHostBytesPerSecond,
        InterHostBandwidth = cluster.InterHostBytesPerSecond,
        // A boundary transfer pays the runtime's fixed cost on top of the link latency.
        IntraHostLatency = 5e-6 + cluster.Overheads.TransferSeconds,
        InterHostLatency = 2e-5 + cluster.Overheads.TransferSeconds,
        InstructionSeconds = cluster.Overheads.InstructionSeconds,
        RunSeconds = cluster.Overheads.RunSeconds,
        SharedCores = cluster.Overheads.SharedCores,
        StageThreads = cluster.Overheads.SharedCores > 0 && cluster.Overheads.SequentialSmallNodes,
        Hash = Hash(cluster),
    };

    /// <summary>SHA-256 of the cluster spec's JSON form.</summary>
    public static string Hash(ClusterSpec cluster) =>
        "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ClusterJson.Write(cluster))));

    internal static IReadOnlyList<int> MicrobatchCandidates(int batch, AutoPlanOptions options)
    {
        if (options.Microbatches is not null) return InterOpPass.Divisors(batch);
        var list = new List<int>();
        for (var b = 1; b <= Math.Min(batch, options.MaxMicrobatches); b *= 2)
            if (batch % b == 0) list.Add(b);
        return list;
    }

    /// <summary>The inter-only ablation: every stage on a (1, 1) submesh.</summary>
    private sealed class SingleDeviceStages(IStageCostProvider inner) : IStageCostProvider
    {
        public IStageCostModel ForMicrobatches(int microbatches) => new Model(inner.ForMicrobatches(microbatches));

        private sealed class Model(IStageCostModel inner) : IStageCostModel
        {
            public int LayerCount => inner.LayerCount;
            public long TransferBytes(int producer, int consumer) => inner.TransferBytes(producer, consumer);
            public IReadOnlyList<PlanTensor> TransferTensors(int producer, int consumer) => inner.TransferTensors(producer, consumer);
            public StageCost Evaluate(StageKey key) => key.Submesh.Count == 1 ? inner.Evaluate(key) : StageCost.Infeasible;
        }
    }
}
