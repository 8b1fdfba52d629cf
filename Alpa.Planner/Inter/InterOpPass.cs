using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Planner.Inter;

/// <summary>Options of the inter-operator pass.</summary>
public sealed record InterOpOptions
{
    /// <summary>Pipeline schedule; decides the memory check (1F1B: s stages live, GPipe: all B).</summary>
    public PipelineSchedule Schedule { get; init; } = PipelineSchedule.OneFOneB;
    /// <summary>Microbatch count B; null tries every candidate of the problem and keeps the best.</summary>
    public int? Microbatches { get; init; }
    /// <summary>Skip a t_max within ε seconds of the last one solved (Alpa's <c>gap</c>, 1e-6 there); 0 is exact.</summary>
    public double Epsilon { get; init; }
    /// <summary>Submesh shapes the DP may use.</summary>
    public SubmeshSpace SubmeshSpace { get; init; } = SubmeshSpace.All;
    /// <summary>Logical meshes tried on each submesh.</summary>
    public LogicalMeshSpace LogicalMeshSpace { get; init; } = LogicalMeshSpace.All;
    /// <summary>Threads evaluating candidates (−1: all cores). The result does not depend on it.</summary>
    public int MaxParallelism { get; init; } = -1;
}

/// <summary>What to plan.</summary>
public sealed record InterOpProblem
{
    /// <summary>Hash of the training graph (<see cref="GraphHashing.Compute"/>), written into the plan.</summary>
    public required string GraphHash { get; init; }
    public required InterOpCluster Cluster { get; init; }
    /// <summary>Stage costs per microbatch count (the intra-operator pass, or a placeholder).</summary>
    public required IStageCostProvider Costs { get; init; }
    /// <summary>Microbatch counts that divide the global batch (see <see cref="InterOpPass.Divisors"/>).</summary>
    public required IReadOnlyList<int> MicrobatchCandidates { get; init; }
}

/// <summary>The chosen plan, its simulation and what the DP did for each microbatch count.</summary>
public sealed record InterOpResult
{
    public required Plan Plan { get; init; }
    public required SimulationResult Simulation { get; init; }
    /// <summary>One report per microbatch count tried, in the order tried.</summary>
    public required IReadOnlyList<StageDpReport> Reports { get; init; }
}

/// <summary>The inter-operator pass [Alpa §5]: stage DP per microbatch count, placement, plan, simulation.</summary>
public static class InterOpPass
{
    /// <summary>Divisors of the global batch up to <paramref name="max"/>, ascending: the microbatch counts that split it evenly.</summary>
    public static IReadOnlyList<int> Divisors(int globalBatch, int max = int.MaxValue)
    {
        if (globalBatch < 1) throw new InterOpException($"the global batch must be ≥ 1, got {globalBatch}") { Field = "batch" };
        return Enumerable.Range(1, Math.Min(globalBatch, max)).Where(b => globalBatch % b == 0).ToArray();
    }

    public static InterOpResult Plan(InterOpProblem problem, InterOpOptions? options = null, IProgress<InterOpProgress>? progress = null)
    {
        options ??= new InterOpOptions();
        var cluster = problem.Cluster;
        cluster.Validate();
        var candidates = MicrobatchCounts(problem, options);
        var submeshes = MeshShapes.Submeshes(cluster.Hosts, cluster.DevicesPerHost, options.SubmeshSpace);
        var best = double.PositiveInfinity;
        (StageCostTable Table, IStageCostModel Model, StageDpResult Result, int B)? chosen = null;
        var reports = new List<StageDpReport>();
        foreach (var b in candidates)
        {
            var model = problem.Costs.ForMicrobatches(b);
            var table = StageCostTable.Build(model, submeshes, options.LogicalMeshSpace, b, progress, options.MaxParallelism);
            var input = new StageDpInput(cluster.Hosts, cluster.DevicesPerHost, cluster.DeviceMemoryBytes, b, options.Schedule, options.Epsilon);
            var result = StageDp.Solve(table, input, best, out var report);
            reports.Add(report);
            if (result is null || result.Objective >= best) continue;
            best = result.Objective;
            chosen = (table, model, result, b);
        }
        if (chosen is not { } c) throw NoPlan(cluster, reports);
        var draft = BuildPlan(problem, options, c.Table, c.Model, c.Result, c.B);
        return Finish(draft, reports);
    }

    /// <summary>Fills the simulated figures into a plan (step time, peak memory, throughput).</summary>
    public static InterOpResult Finish(Plan draft, IReadOnlyList<StageDpReport> reports)
    {
        var sim = PipelineSimulator.Simulate(draft);
        var plan = draft with
        {
            StepSeconds = sim.StepSeconds,
            BubbleFraction = sim.BubbleFraction,
            TflopsPerDevice = sim.TflopsPerDevice,
            Stages = draft.Stages.Select((s, i) => s with { PeakMemoryBytes = sim.Stages[i].PeakMemoryBytes }).ToArray(),
        };
        return new InterOpResult { Plan = plan, Simulation = sim, Reports = reports };
    }

    private static int[] MicrobatchCounts(InterOpProblem problem, InterOpOptions options)
    {
        if (options.Microbatches is int given)
        {
            if (given < 1) throw new InterOpException($"microbatches must be ≥ 1, got {given}") { Field = "microbatches" };
            if (problem.MicrobatchCandidates.Count > 0 && !problem.MicrobatchCandidates.Contains(given))
                throw new InterOpException($"{given} microbatches do not split the global batch evenly; use one of {string.Join(", ", problem.MicrobatchCandidates)}") { Field = "microbatches" };
            return [given];
        }
        var list = problem.MicrobatchCandidates.Where(b => b >= 1).Distinct().Order().ToArray();
        return list.Length > 0 ? list : throw new InterOpException("no microbatch count to try; give the global batch's divisors") { Field = "microbatches" };
    }

    private static Plan BuildPlan(InterOpProblem problem, InterOpOptions options, StageCostTable table, IStageCostModel model, StageDpResult result, int b)
    {
        var shapes = result.Stages.Select(s => table.Submeshes[s.Submesh]).ToArray();
        var devices = StagePlacement.Place(shapes, problem.Cluster.Hosts, problem.Cluster.DevicesPerHost);
        var stages = result.Stages.Select((s, i) =>
            Stage(new StageKey(s.First, s.Last, shapes[i], table.Meshes[s.Submesh][s.Mesh]), devices[i], table[s.First, s.Last, s.Submesh, s.Mesh])).ToArray();
        return new Plan
        {
            GraphHash = problem.GraphHash, ClusterHash = problem.Cluster.EffectiveHash, Schedule = options.Schedule,
            Microbatches = b, Stages = stages, Transfers = Transfers(model, result.Stages), Cluster = problem.Cluster,
            DpObjectiveSeconds = result.Objective,
        };
    }

    /// <summary>
    /// A plan with the given stages (layer ranges, submeshes, logical meshes) instead of the DP's choice,
    /// costed and simulated like any other: for tests, benchmarks and hand-written pipelines.
    /// </summary>
    public static InterOpResult PlanFixed(InterOpProblem problem, IReadOnlyList<StageKey> stages, int microbatches, PipelineSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(problem);
        ArgumentNullException.ThrowIfNull(stages);
        var model = problem.Costs.ForMicrobatches(microbatches);
        if (stages.Count == 0 || stages[0].First != 0 || stages[^1].Last != model.LayerCount - 1 || stages.Zip(stages.Skip(1)).Any(p => p.Second.First != p.First.Last + 1))
            throw new InterOpException($"the stages must cover layers 0–{model.LayerCount - 1} in order without gaps") { Field = "stages" };
        var devices = StagePlacement.Place([.. stages.Select(s => s.Submesh)], problem.Cluster.Hosts, problem.Cluster.DevicesPerHost);
        var planStages = stages.Select((k, i) =>
        {
            var cost = model.Evaluate(k);
            if (double.IsPositiveInfinity(cost.ForwardSeconds)) throw new InterOpException($"stage {i} (layers {k.First}–{k.Last}) does not fit on {k.Submesh}") { Field = "stages" };
            return Stage(k, devices[i], cost);
        }).ToArray();
        var choices = stages.Select(k => new StageChoice(k.First, k.Last, 0, 0)).ToArray();
        var draft = new Plan
        {
            GraphHash = problem.GraphHash, ClusterHash = problem.Cluster.EffectiveHash, Schedule = schedule,
            Microbatches = microbatches, Stages = planStages, Transfers = Transfers(model, choices), Cluster = problem.Cluster,
        };
        return Finish(draft, []);
    }

    private static PlanStage Stage(StageKey key, IReadOnlyList<int> devices, StageCost cost) => new()
    {
        FirstLayer = key.First, LastLayer = key.Last, Submesh = key.Submesh, LogicalMesh = key.Mesh,
        Devices = devices, Strategies = cost.Strategies, ParameterSpecs = cost.ParameterSpecs,
        ForwardSeconds = cost.ForwardSeconds, BackwardSeconds = cost.BackwardSeconds, UpdateSeconds = cost.UpdateSeconds,
        ParameterBytes = cost.ParameterBytes, ActivationBytes = cost.ActivationBytes, Flops = cost.Flops,
        Collectives = cost.StepCollectives,
    };

    /// <summary>
    /// Bytes each stage sends each later stage per microbatch: the sum over their layers. Consecutive
    /// stages always get an entry (possibly 0 bytes): the pipeline order is a dependency even without data.
    /// </summary>
    private static PlanTransfer[] Transfers(IStageCostModel model, IReadOnlyList<StageChoice> stages)
    {
        var list = new List<PlanTransfer>();
        for (var a = 0; a < stages.Count; a++)
            for (var z = a + 1; z < stages.Count; z++)
            {
                long bytes = 0;
                for (var p = stages[a].First; p <= stages[a].Last; p++)
                    for (var q = stages[z].First; q <= stages[z].Last; q++)
                        bytes += model.TransferBytes(p, q);
                if (bytes > 0 || z == a + 1) list.Add(new PlanTransfer(a, z, bytes));
            }
        return [.. list];
    }

    private static InterOpException NoPlan(InterOpCluster cluster, List<StageDpReport> reports)
    {
        var detail = string.Join("; ", reports.Select(r =>
            $"B={r.Microbatches}: {r.OverMemory} of {r.Candidates} candidates over memory, {r.Infeasible} infeasible"));
        return new InterOpException(
            $"no pipeline plan fits {cluster.DeviceMemoryBytes} bytes per device ({detail}); use more devices, more microbatches, or a memory-lighter model")
        { Field = "memory" };
    }
}
