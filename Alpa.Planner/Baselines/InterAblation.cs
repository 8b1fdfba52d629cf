using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;

namespace Alpa.Planner.Baselines;

/// <summary>How the inter-operator ablation cuts the model into stages (paper §8.4, Figure 10).</summary>
public enum StageRule
{
    /// <summary>Alpa: operator clustering (eq. 6) and the stage DP choose stages and meshes together.</summary>
    Dp,
    /// <summary>Every stage holds the same number of blocks (the first also the embedding or stem, the last the head); the DP picks the meshes.</summary>
    EqualLayers,
    /// <summary>Every stage holds about the same number of forward operators (cut at marked layers); the DP picks the meshes.</summary>
    EqualOperators,
}

/// <summary>The best plan of one stage rule.</summary>
public sealed record StageRuleResult
{
    public required StageRule Rule { get; init; }
    /// <summary>The plan, simulated; null when no stage count of the rule fits device memory.</summary>
    public InterOpResult? Result { get; init; }
    /// <summary>Whether the plan recomputes activations (only when nothing fits without).</summary>
    public bool Remat { get; init; }
    /// <summary>Stage counts tried (the rules with fixed stages; empty for <see cref="StageRule.Dp"/>).</summary>
    public IReadOnlyList<int> StageCounts { get; init; } = [];
    public bool Oom => Result is null;
}

/// <summary>
/// The paper's inter-op ablation: the stage DP against two rule-based stage cuts, all with the same
/// per-layer intra-op costs, microbatch search, simulator and memory checks. The rules fix which
/// layer ranges may form stages, for each stage count S (powers of two up to the blocks and
/// devices), and leave the submesh and logical mesh of every stage to the DP; the S with the least
/// DP objective wins, as <c>alpa plan</c> ranks its candidates. Pure: no clock.
/// </summary>
public static class InterAblation
{
    public static StageRuleResult Plan(StageRule rule, ModelSpec model, ClusterSpec cluster, BaselineOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(cluster);
        options ??= new BaselineOptions();
        cluster.Validate();
        if (rule == StageRule.Dp) return Auto(model, cluster, options);
        var blocks = model.LayerCount - 2;
        if (blocks < 1)
            throw new InterOpException($"model '{model.Name}' has no blocks between its first and last layer: the stage rules cut blocks") { Field = "model" };
        var space = new FamilySpace(model, cluster, options);
        var counts = StageCounts(blocks, cluster.Devices);
        var ops = OperatorsPerLayer(space.Forward, model.LayerCount);
        foreach (var remat in new[] { false, true })
        {
            var costs = space.Costs(remat, ("all", null));
            InterOpResult? best = null;
            foreach (var s in counts)
            {
                var ranges = (rule == StageRule.EqualLayers ? BaselineGrid.EqualStages(blocks, s) : EqualOperatorStages(ops, s)).ToHashSet();
                var r = TryPlan(space, remat, new RestrictedStages(costs, k => ranges.Contains((k.First, k.Last))), options);
                if (r is not null && (best is null || r.Plan.DpObjectiveSeconds < best.Plan.DpObjectiveSeconds)) best = r;
            }
            if (best is not null) return new StageRuleResult { Rule = rule, Result = best, Remat = remat, StageCounts = counts };
        }
        return new StageRuleResult { Rule = rule, Remat = true, StageCounts = counts };
    }

    /// <summary>1, 2, 4, … up to the number of blocks and of devices.</summary>
    public static IReadOnlyList<int> StageCounts(int blocks, int devices)
    {
        var list = new List<int>();
        for (var s = 1; s <= Math.Min(blocks, devices); s *= 2) list.Add(s);
        return list;
    }

    /// <summary>
    /// Marked-layer ranges of <paramref name="stages"/> stages with about equal operator counts: stage k
    /// ends at the layer whose running count is closest to (k + 1)/S of the total, every stage non-empty.
    /// </summary>
    public static IReadOnlyList<(int First, int Last)> EqualOperatorStages(IReadOnlyList<int> operatorsPerLayer, int stages)
    {
        var layers = operatorsPerLayer.Count;
        if (stages < 1 || stages > layers)
            throw new InterOpException($"cannot split {layers} layers into {stages} stages; use 1 to {layers} stages") { Field = "stages" };
        var prefix = new long[layers + 1];
        for (var l = 0; l < layers; l++) prefix[l + 1] = prefix[l] + operatorsPerLayer[l];
        var ranges = new List<(int, int)>();
        var first = 0;
        for (var k = 1; k < stages; k++)
        {
            var target = (double)prefix[layers] * k / stages;
            // End after layer `end` (exclusive bound): at least one layer here, at least one for each stage left.
            var end = Enumerable.Range(first + 1, layers - (stages - k) - first)
                .MinBy(e => (Math.Abs(prefix[e] - target), e));
            ranges.Add((first, end - 1));
            first = end;
        }
        ranges.Add((first, layers - 1));
        return ranges;
    }

    /// <summary>Forward compute nodes per marked layer; unmarked nodes count with the marked layer before them.</summary>
    internal static int[] OperatorsPerLayer(Graph.Graph forward, int layers)
    {
        var counts = new int[layers];
        var current = 0;
        foreach (var n in forward.Nodes)
        {
            if (n.IsLeaf || n.Phase != Phase.Forward) continue;
            if (n.Layer >= 0) current = Math.Max(current, n.Layer);
            counts[Math.Min(current, layers - 1)]++;
        }
        return counts;
    }

    private static InterOpResult? TryPlan(FamilySpace space, bool remat, IStageCostProvider costs, BaselineOptions options)
    {
        var problem = new InterOpProblem
        {
            GraphHash = space.GraphHash(remat),
            Cluster = AutoPlanner.ToInterOp(space.Cluster),
            Costs = costs,
            MicrobatchCandidates = AutoPlanner.MicrobatchCandidates(space.Model.Batch, new AutoPlanOptions { MaxMicrobatches = options.MaxMicrobatches }),
        };
        var inter = new InterOpOptions { Schedule = options.Schedule, MaxParallelism = options.MaxParallelism };
        try
        {
            return AutoPlanner.DescendingMicrobatchSearch(problem, inter, null);
        }
        catch (InterOpException e) when (e.Field == "memory")
        {
            return null;
        }
    }

    private static StageRuleResult Auto(ModelSpec model, ClusterSpec cluster, BaselineOptions options)
    {
        var auto = new AutoPlanOptions
        {
            MaxMicrobatches = options.MaxMicrobatches, Solver = options.Solver, Training = options.Training,
            Schedule = options.Schedule, MaxParallelism = options.MaxParallelism,
        };
        try
        {
            var r = AutoPlanner.Plan(model, cluster, auto);
            return new StageRuleResult { Rule = StageRule.Dp, Result = r.Result, Remat = r.Remat };
        }
        catch (InterOpException e) when (e.Field == "memory")
        {
            return new StageRuleResult { Rule = StageRule.Dp, Remat = true };
        }
    }
}
