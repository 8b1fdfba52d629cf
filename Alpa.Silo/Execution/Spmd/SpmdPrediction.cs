using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>The collectives an intra-op plan predicts for one step: strategies' own, edge resharding, update write-back.</summary>
public static class SpmdPrediction
{
    /// <summary>Every predicted collective with the tensor it moves (bytes: the full tensor within one group).</summary>
    public static List<(string Tensor, Collective Collective, string Source)> Collectives(Graph graph, IntraResult plan)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(plan);
        var result = new List<(string, Collective, string)>();
        var specs = plan.NodeStrategies;
        foreach (var n in graph.Nodes)
        {
            var s = specs[n.Name];
            for (var i = 0; i < n.Inputs.Count; i++)
            {
                var x = n.Inputs[i];
                foreach (var c in Resharding.Plan(plan.Mesh, x.OutputBytes, specs[x.Name].Output, s.Inputs[i])) result.Add((x.Name, c, "reshard"));
            }
            foreach (var c in s.Collectives) result.Add((n.Name, c, "strategy"));
        }
        foreach (var u in graph.Updates)
            foreach (var c in Resharding.Plan(plan.Mesh, u.Value.OutputBytes, specs[u.Value.Name].Output, specs[u.Target.Name].Output))
                result.Add((u.Value.Name, c, "update"));
        return result;
    }

    /// <summary>Per-device bytes of parameters and optimizer states the plan predicts (Σ Strategy.MemoryBytes).</summary>
    public static double PersistentBytes(Graph graph, IntraResult plan)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(plan);
        return graph.Nodes.Where(n => n.Op is OpKind.Parameter or OpKind.State).Sum(n => plan.NodeStrategies[n.Name].MemoryBytes);
    }
}
