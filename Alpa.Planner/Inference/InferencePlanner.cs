using Alpa.Planner.Cluster;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;

namespace Alpa.Planner.Inference;

/// <summary>
/// Plans forward stages for serving a GPT on one host: each layer's decode program (T = 1, all
/// batch slots, KV caches heads-split) is planned by the intra-op ILP on a (1, s) mesh for every
/// submesh size s; a stage's latency is the sum of its layers' optimal costs (as the training
/// planner charges stages layer by layer), and <see cref="InferenceStages"/> picks the cut.
/// </summary>
public static class InferencePlanner
{
    /// <summary>Plans stages for <paramref name="spec"/> on one host of <paramref name="cluster"/>.</summary>
    public static InferenceStagePlan Plan(GptSpec spec, ClusterSpec cluster, int slots, InferenceObjective objective, int? stages = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(cluster);
        var devices = cluster.DevicesPerHost;
        var layers = spec.LayerCount;
        var sizes = new List<int>();
        for (var s = 1; s <= devices; s *= 2) sizes.Add(s);
        var cost = new Dictionary<(int Layer, int Size), double>();
        foreach (var s in sizes)
        {
            var mesh = LogicalMesh.AllShapes(cluster with { Hosts = 1, DevicesPerHost = s }).First(m => m.N0 == 1 && m.N1 == s);
            for (var l = 0; l < layers; l++)
            {
                var graph = GptGeneration.Build(spec, new GenerationShape { Slots = slots, Chunk = 1, FirstLayer = l, LastLayer = l });
                var caches = graph.Nodes.Where(n => n.Op == Graph.OpKind.State)
                    .ToDictionary(n => n.Name, n => (IReadOnlyList<string>)["R", s > 1 && spec.Heads % s == 0 ? "S1" : "R", "R", "R"], StringComparer.Ordinal);
                cost[(l, s)] = IntraOpPass.Run(graph, mesh, new IntraOptions { FixedSpecs = caches }).ObjectiveSeconds;
            }
        }
        var options = new InferenceStageOptions { Layers = layers, Devices = devices, Objective = objective, Stages = stages, SubmeshSizes = sizes };
        return InferenceStages.Plan(options, (first, last, s) => Enumerable.Range(first, last - first + 1).Sum(l => cost[(l, s)]));
    }
}
