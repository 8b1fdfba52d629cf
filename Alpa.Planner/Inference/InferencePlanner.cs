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
    /// <summary>
    /// Plans stages for <paramref name="spec"/> on one host of <paramref name="cluster"/>; refuses with
    /// <see cref="InferenceMemoryException"/> when no cut fits the KV caches and weights in device memory.
    /// </summary>
    public static InferenceStagePlan Plan(GptSpec spec, ClusterSpec cluster, int slots, InferenceObjective objective, int? stages = null)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var sizes = new List<int>();
        for (var s = 1; s <= cluster.DevicesPerHost; s *= 2) sizes.Add(s);
        return Plan(spec, cluster, slots, objective, stages, cluster.DevicesPerHost, sizes);
    }

    /// <summary>
    /// Plans one stage per host of <paramref name="cluster"/> (each stage a (1, D) mesh of one host's D
    /// devices, as serving across silos places one stage on each silo); the DP chooses the layer cuts.
    /// </summary>
    public static InferenceStagePlan PlanAcrossHosts(GptSpec spec, ClusterSpec cluster, int slots, InferenceObjective objective)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(cluster);
        if (spec.LayerCount < cluster.Hosts)
            throw new AlpaException($"{spec.Name} has {spec.LayerCount} layers: too few for one serving stage on each of {cluster.Hosts} silos; use at most {spec.LayerCount} silos");
        return Plan(spec, cluster, slots, objective, cluster.Hosts, cluster.Hosts * cluster.DevicesPerHost, [cluster.DevicesPerHost]);
    }

    private static InferenceStagePlan Plan(GptSpec spec, ClusterSpec cluster, int slots, InferenceObjective objective, int? stages, int devices, IReadOnlyList<int> sizes)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var layers = spec.LayerCount;
        var cost = new Dictionary<(int Layer, int Size), double>();
        foreach (var s in sizes)
        {
            var mesh = LogicalMesh.AllShapes(cluster with { Hosts = 1, DevicesPerHost = s }).First(m => m.N0 == 1 && m.N1 == s);
            for (var l = 0; l < layers; l++)
            {
                var graph = GptGeneration.Build(spec, new GenerationShape { Slots = slots, Chunk = 1, FirstLayer = l, LastLayer = l });
                var caches = graph.Nodes.Where(n => n.Op == Graph.OpKind.State)
                    .ToDictionary(n => n.Name, n => (IReadOnlyList<string>)["R", InferenceMemory.HeadShards(spec, s) > 1 ? "S1" : "R", "R", "R"], StringComparer.Ordinal);
                cost[(l, s)] = IntraOpPass.Run(graph, mesh, new IntraOptions { FixedSpecs = caches }).ObjectiveSeconds;
            }
        }
        var memory = cluster.Device.MemoryBytes;
        // A stage that does not fit costs a penalty far above any latency: the DP prefers every cut that fits.
        double Seconds(int first, int last, int s) =>
            Enumerable.Range(first, last - first + 1).Sum(l => cost[(l, s)])
            + (InferenceMemory.Fits(spec, slots, new InferenceStage(first, last, s, 0), memory) ? 0 : 1e30);
        var options = new InferenceStageOptions { Layers = layers, Devices = devices, Objective = objective, Stages = stages, SubmeshSizes = sizes };
        var plan = InferenceStages.Plan(options, Seconds);
        InferenceMemory.Check(spec, slots, plan.Stages, memory);
        return plan;
    }
}
