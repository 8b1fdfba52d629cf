using System.Globalization;
using System.Text;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>
/// <c>alpa bench intra</c>: the intra-op pass on a 6-layer slice of GPT-39B (hidden 8192, 64 heads,
/// sequence 1024, microbatch 8, fp16, training graph with Adam) on an 8-device aws-p3.16xlarge host,
/// every logical mesh shape. The planner has no clock: the caller passes <c>time</c>, which runs an
/// action and returns its seconds.
/// </summary>
public static class IntraBench
{
    /// <summary>One mesh shape's row.</summary>
    public sealed record Row(int[] Shape, double PrepareSeconds, double SolveSeconds, IntraResult Result);

    public static Graph.Graph Gpt39BSlice() => BenchGraphs.GptSlice(layers: 6, batch: 8, seq: 1024, hidden: 8192, heads: 64);

    public static ClusterSpec Cluster() => BuiltInClusters.P3(1, 8);

    /// <summary>Runs every logical mesh shape; <paramref name="time"/> measures each phase.</summary>
    public static List<Row> Run(Func<Action, double> time, Graph.Graph? graph = null, ClusterSpec? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(time);
        graph ??= Gpt39BSlice();
        var rows = new List<Row>();
        foreach (var mesh in LogicalMesh.AllShapes(cluster ?? Cluster()))
        {
            PreparedIntra? prepared = null;
            IntraResult? result = null;
            var prepare = time(() => prepared = IntraOpPass.Prepare(graph, mesh));
            var solve = time(() => result = IntraOpPass.Solve(prepared!));
            rows.Add(new Row(mesh.Shape, prepare, solve, result!));
        }
        return rows;
    }

    /// <summary>The rows as a markdown table plus strategy counts per node kind.</summary>
    public static string Markdown(Graph.Graph graph, IReadOnlyList<Row> rows)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(rows);
        var c = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(c, $"Graph: {graph.Nodes.Count} nodes, {graph.ParameterCount / 1e9:F2} B parameters, {graph.Flops / 1e12:F1} TFLOP per step.");
        sb.AppendLine();
        sb.AppendLine("| mesh | choice vars | max strategies | edges | ILP columns | ILP rows | B&B nodes | optimal | prepare s | CBC s | objective ms | compute ms | comm ms | peak GiB |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
        {
            var s = r.Result.Stats;
            sb.AppendLine(c, $"| ({r.Shape[0]}, {r.Shape[1]}) | {s.ChoiceVariables} | {s.MaxStrategies} | {s.Edges} | {s.IlpVariables} | {s.IlpConstraints} | {s.SearchNodes} | {s.ProvenOptimal} (gap {s.OptimalityGap:G2}) | {r.PrepareSeconds:F2} | {r.SolveSeconds:F2} | {r.Result.ObjectiveSeconds * 1e3:F1} | {r.Result.ComputeSeconds * 1e3:F1} | {r.Result.CommunicationSeconds * 1e3:F1} | {r.Result.PeakMemoryBytes / (1L << 30):F1} |");
        }
        sb.AppendLine();
        sb.AppendLine("Strategies per node kind (variables × average strategies) on each mesh:");
        sb.AppendLine();
        foreach (var r in rows)
        {
            var kinds = r.Result.Stats.StrategiesByKind.Select(kv =>
                string.Create(c, $"{kv.Key} {kv.Value.Nodes}×{(double)kv.Value.Strategies / kv.Value.Nodes:F1}"));
            sb.AppendLine(c, $"- ({r.Shape[0]}, {r.Shape[1]}): {string.Join(", ", kinds)}");
        }
        var best = rows.MinBy(r => r.Result.ObjectiveSeconds)!;
        sb.AppendLine();
        sb.AppendLine(c, $"Best mesh ({best.Shape[0]}, {best.Shape[1]}); total wall time {rows.Sum(r => r.PrepareSeconds + r.SolveSeconds):F2} s.");
        return sb.ToString();
    }
}
