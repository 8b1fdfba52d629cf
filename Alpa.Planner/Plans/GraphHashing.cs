using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Plans;

/// <summary>
/// Stable hash of a graph: SHA-256 over a canonical text of its node list (id, op, shape, dtype,
/// every attribute, name, input ids, layer mark, phase) and its outputs, loss and updates. Equal
/// graphs built twice hash equally on every machine (invariant formatting, no object identities).
/// </summary>
public static class GraphHashing
{
    public static string Compute(Graph.Graph graph)
    {
        var text = new StringBuilder();
        foreach (var n in graph.Nodes)
        {
            text.Append(n.Id).Append('|').Append(n.Op).Append('|').Append(n.Shape).Append('|').Append(n.DType.ToJsonName())
                .Append('|').Append(n.Name).Append('|').Append(string.Join(',', n.Inputs.Select(i => i.Id)))
                .Append('|').Append(n.Layer).Append('|').Append(n.Phase).Append('|');
            AppendAttrs(text, n.Attrs);
            text.Append('\n');
        }
        text.Append("outputs|").Append(string.Join(',', graph.Outputs.Select(o => o.Id))).Append('\n');
        text.Append("loss|").Append(graph.Loss?.Id ?? -1).Append('\n');
        text.Append("updates|").Append(string.Join(',', graph.Updates.Select(u => $"{u.Target.Id}:{u.Value.Id}"))).Append('\n');
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private static void AppendAttrs(StringBuilder text, OpAttrs a)
    {
        static string D(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        text.Append(a.TransA).Append(',').Append(a.TransB).Append(',').Append(a.Axis).Append(',')
            .Append(a.Axes is null ? "-" : string.Join(' ', a.Axes)).Append(',').Append(a.KeepDims).Append(',')
            .Append(a.Start).Append(',').Append(a.End).Append(',')
            .Append(a.Shape is null ? "-" : string.Join(' ', a.Shape)).Append(',').Append(D(a.Value)).Append(',')
            .Append(D(a.Epsilon)).Append(',').Append(a.To).Append(',').Append(a.Stride).Append(',').Append(a.Padding).Append(',')
            .Append(a.Kernel).Append(',').Append(a.Capacity).Append(',').Append(a.Mask).Append(',').Append(D(a.Beta)).Append(',')
            .Append(D(a.Beta2)).Append(',').Append(a.Square).Append(',').Append(D(a.WeightDecay)).Append(',')
            .Append(D(a.Momentum)).Append(',').Append(a.Init);
    }
}
