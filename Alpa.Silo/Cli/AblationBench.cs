using System.Diagnostics;
using Alpa.Planner.Baselines;
using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Silo.Cli;

/// <summary>
/// The rows of <c>alpa bench inter-ablation</c> (paper Figure 10: the stage DP vs equal layers vs
/// equal operators per stage) and <c>alpa bench reshard-ablation</c> (paper Figure 11: cross-mesh
/// resharding with and without local all-gather, and a signal-only send as the bound).
/// </summary>
internal static class AblationBench
{
    /// <summary>Methods of the inter-op ablation and the stage rule behind each.</summary>
    public static readonly IReadOnlyDictionary<string, StageRule> StageRules = new Dictionary<string, StageRule>
    {
        ["stage-dp"] = StageRule.Dp,
        ["equal-layer"] = StageRule.EqualLayers,
        ["equal-operator"] = StageRule.EqualOperators,
    };

    /// <summary>Methods of the resharding ablation: the same auto plan, its boundary transfers simulated three ways.</summary>
    public static readonly IReadOnlyList<string> ReshardMethods = ["local-all-gather", "no-local-all-gather", "signal-send"];

    public static BenchRow StageRuleRow(PaperCase c, ModelSpec model, ClusterSpec cluster, string method, double modelFlops)
    {
        var row = new BenchRow { Family = c.Family, Model = c.Model, Gpus = c.Gpus, Method = method };
        var clock = Stopwatch.StartNew();
        try
        {
            var r = InterAblation.Plan(StageRules[method], model, cluster);
            if (r.Result is not { } result) return row with { Oom = true, CompileSeconds = clock.Elapsed.TotalSeconds };
            return BenchRunner.Measured(row, result.Plan, modelFlops, clock, Describe(result.Plan, r.Remat));
        }
        catch (InterOpException e)
        {
            return row with { Error = e.Message, CompileSeconds = clock.Elapsed.TotalSeconds };
        }
    }

    /// <summary>Plans auto once and simulates its transfers with local all-gather, without, and as bare signals.</summary>
    public static IEnumerable<BenchRow> ReshardRows(PaperCase c, ModelSpec model, ClusterSpec cluster, IReadOnlyList<string> methods, double modelFlops)
    {
        var row = new BenchRow { Family = c.Family, Model = c.Model, Gpus = c.Gpus, Method = "" };
        var clock = Stopwatch.StartNew();
        Planner.Planning.AutoPlanResult auto;
        try
        {
            auto = Planner.Planning.AutoPlanner.Plan(model, cluster);
        }
        catch (InterOpException e)
        {
            var failed = e.Field == "memory" ? row with { Oom = true } : row with { Error = e.Message };
            return methods.Select(m => failed with { Method = m, CompileSeconds = clock.Elapsed.TotalSeconds });
        }
        var seconds = clock.Elapsed.TotalSeconds;
        return methods.Select(m =>
        {
            var plan = Variant(auto.Plan, m);
            var simulated = plan with { StepSeconds = PipelineSimulator.Simulate(plan).StepSeconds };
            var measured = BenchRunner.Measured(row with { Method = m }, simulated, modelFlops, clock, Describe(simulated, auto.Remat));
            return measured with { CompileSeconds = seconds, Config = $"{measured.Config}; {CrossMeshSummary(plan)}" };
        }).ToArray();
    }

    private static Plan Variant(Plan plan, string method) => method switch
    {
        "local-all-gather" => plan with { LocalAllGather = true },
        "no-local-all-gather" => plan with { LocalAllGather = false },
        // Only a signal crosses: the bound with free resharding (the paper's "signal send/recv").
        "signal-send" => plan with { Transfers = [.. plan.Transfers.Select(t => t with { Bytes = 0, Tensors = [] })] },
        _ => throw new UsageException($"unknown resharding method '{method}': use {string.Join(", ", ReshardMethods)}"),
    };

    /// <summary>Bytes that cross hosts per microbatch (forward) under the plan's resharding setting.</summary>
    private static string CrossMeshSummary(Plan plan)
    {
        long crossing = 0, allGather = 0;
        foreach (var t in plan.Transfers)
            foreach (var tensor in t.Tensors)
            {
                var r = CrossMeshResharding.Plan(PipelineSimulator.Resharding(plan, t, tensor, backward: false));
                crossing += r.CrossHostBytes;
                allGather += r.AllGatherBytes;
            }
        return $"cross-host {Units.Bytes(crossing)}/microbatch, all-gather {Units.Bytes(allGather)}";
    }

    private static string Describe(Plan plan, bool remat) =>
        $"B={plan.Microbatches} {string.Join(" ", plan.Stages.Select(s => $"{s.FirstLayer}-{s.LastLayer}@{s.LogicalMesh}"))}{(remat ? " remat" : "")}";
}
