using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;

namespace Alpa.Planner.Pipeline;

using Graph = Alpa.Planner.Graph.Graph;

/// <summary>A tensor one stage hands to another each microbatch (forward activation or backward gradient).</summary>
/// <param name="Name">Node name in the training graph (the same name in both stage graphs).</param>
/// <param name="FromStage">Producing stage.</param>
/// <param name="ToStage">Consuming stage.</param>
/// <param name="Backward">False: a forward activation (FromStage &lt; ToStage); true: a gradient (FromStage &gt; ToStage).</param>
public sealed record BoundaryTensor(string Name, int FromStage, int ToStage, bool Backward);

/// <summary>
/// The part of a microbatch's training graph one pipeline stage runs: its forward, recomputed,
/// backward and update nodes, with tensors from other stages entering as inputs of the same name.
/// </summary>
public sealed record StageGraph
{
    /// <summary>Stage index.</summary>
    public required int Stage { get; init; }
    /// <summary>The stage's nodes as a graph of their own (names kept; outside tensors are <see cref="OpKind.Input"/> leaves).</summary>
    public required Graph Graph { get; init; }
    /// <summary>Tensors this stage receives (forward activations from earlier stages, gradients from later ones).</summary>
    public required IReadOnlyList<BoundaryTensor> Received { get; init; }
    /// <summary>Tensors this stage sends.</summary>
    public required IReadOnlyList<BoundaryTensor> Sent { get; init; }
    /// <summary>Names of the training graph's own inputs the stage reads (data, optimizer scalars).</summary>
    public required IReadOnlyList<string> DataInputs { get; init; }
    /// <summary>Forward values (and received activations or data) the backward reads: a microbatch's stash.</summary>
    public required IReadOnlySet<string> Saved { get; init; }
    /// <summary>Backward nodes the update reads: parameter gradients, accumulated over microbatches.</summary>
    public required IReadOnlySet<string> Gradients { get; init; }
}

/// <summary>
/// Splits the training graph of one microbatch into the stages of a plan: a node belongs to the stage
/// holding its marked layer's clustered layer (the clustering the planner used, recomputed from the
/// plan's layer count); nodes outside every marked layer go with the last stage, as the planner's
/// stage costs count them. Refuses graphs whose dataflow the emitted lists cannot carry (a stage
/// reading another stage's parameter, a gradient flowing forward).
/// </summary>
public static class StageGraphs
{
    public static IReadOnlyList<StageGraph> Split(Graph forward, Graph training, Plan plan)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(training);
        ArgumentNullException.ThrowIfNull(plan);
        var stageOf = StageOfNodes(forward, training, plan);
        var consumers = training.Consumers();
        return [.. Enumerable.Range(0, plan.Stages.Count).Select(s => Extract(training, stageOf, consumers, s))];
    }

    /// <summary>
    /// The plan's transfers with the bytes the stage graphs actually move per microbatch (forward
    /// direction; the gradients go back over the same pairs). Pairs the plan lists keep an entry, and
    /// pairs the graphs add (a tied parameter read by a later stage) get one, so the emitted lists
    /// carry every boundary tensor.
    /// </summary>
    public static IReadOnlyList<PlanTransfer> Transfers(IReadOnlyList<StageGraph> stages, Plan plan)
    {
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentNullException.ThrowIfNull(plan);
        var bytes = new SortedDictionary<(int From, int To), long>();
        foreach (var t in plan.Transfers) bytes[(t.FromStage, t.ToStage)] = 0;
        foreach (var sg in stages)
            foreach (var t in sg.Sent.Where(t => !t.Backward))
                bytes[(t.FromStage, t.ToStage)] = bytes.GetValueOrDefault((t.FromStage, t.ToStage)) + sg.Graph[t.Name].OutputBytes;
        return [.. bytes.Select(kv => new PlanTransfer(kv.Key.From, kv.Key.To, kv.Value))];
    }

    /// <summary>Stage of every node of the training graph (−1: a data input, read by whichever stage needs it).</summary>
    private static int[] StageOfNodes(Graph forward, Graph training, Plan plan)
    {
        var layers = plan.Stages[^1].LastLayer + 1;
        var clustering = LayerClustering.Cluster(forward, new LayerClusteringOptions { UseMarkedLayers = true, Layers = layers });
        var clusterOfMarked = IntraStageCosts.ClusterOfMarkedLayer(forward, clustering);
        var stageOfCluster = new int[layers];
        for (var s = 0; s < plan.Stages.Count; s++)
            for (var c = plan.Stages[s].FirstLayer; c <= plan.Stages[s].LastLayer; c++) stageOfCluster[c] = s;
        var last = plan.Stages.Count - 1;
        var stage = new int[training.Nodes.Count];
        foreach (var n in training.Nodes)
        {
            if (n.Op is OpKind.Input or OpKind.Constant) { stage[n.Id] = -1; continue; }
            var c = n.Layer >= 0 && n.Layer < clusterOfMarked.Length ? clusterOfMarked[n.Layer] : -1;
            stage[n.Id] = c >= 0 ? stageOfCluster[c] : last;
        }
        return stage;
    }

    private static StageGraph Extract(Graph training, int[] stageOf, IReadOnlyList<IReadOnlyList<Node>> consumers, int s)
    {
        var b = new GraphBuilder();
        var map = new Dictionary<int, Node>();
        var received = new List<BoundaryTensor>();
        var data = new List<string>();
        Node Map(Node n, Node user)
        {
            if (map.TryGetValue(n.Id, out var m)) return m;
            b.Layer = n.Layer;
            b.Phase = n.Phase;
            if (stageOf[n.Id] == s || stageOf[n.Id] < 0)
            {
                if (stageOf[n.Id] < 0) data.Add(n.Name);
                return map[n.Id] = b.Leaf(n.Op, n.Name, n.Shape, n.DType, n.Attrs);
            }
            // A parameter read by a later stage (tied embeddings) travels like an activation; its
            // gradient comes back like any boundary gradient and is summed where it is updated.
            if (n.IsLeaf && (n.Op != OpKind.Parameter || stageOf[n.Id] > s))
                throw new PipelineException($"stage {s} ('{user.Name}') reads '{n.Name}', a {n.Op} of the later stage {stageOf[n.Id]}: only parameters may be shared, and only with later stages; plan with fewer stages");
            var backward = n.Phase is Phase.Backward;
            if (backward != (stageOf[n.Id] > s))
                throw new PipelineException($"stage {s} ('{user.Name}', {user.Phase}) reads '{n.Name}' ({n.Phase}) of stage {stageOf[n.Id]}: the pipeline only moves activations forward and gradients backward");
            received.Add(new BoundaryTensor(n.Name, stageOf[n.Id], s, backward));
            return map[n.Id] = b.Leaf(OpKind.Input, n.Name, n.Shape, n.DType);
        }
        var own = training.Nodes.Where(n => stageOf[n.Id] == s).ToList();
        foreach (var n in own)
        {
            if (n.IsLeaf) { Map(n, n); continue; }
            var inputs = n.Inputs.Select(i => Map(i, n)).ToArray();
            b.Layer = n.Layer;
            b.Phase = n.Phase;
            map[n.Id] = b.Op(n.Op, inputs, n.Attrs, n.Name);
        }
        var sent = new List<BoundaryTensor>();
        foreach (var n in own)
            foreach (var to in consumers[n.Id].Select(c => stageOf[c.Id]).Where(t => t >= 0 && t != s).Distinct().Order())
                sent.Add(new BoundaryTensor(n.Name, s, to, n.Phase is Phase.Backward));
        var loss = training.Loss is { } l && stageOf[l.Id] == s ? map[l.Id] : null;
        var outputs = sent.Select(t => training[t.Name]).Distinct().Select(n => map[n.Id]).ToList();
        if (loss is not null && !outputs.Contains(loss)) outputs.Add(loss);
        var updates = training.Updates.Where(u => stageOf[u.Target.Id] == s)
            .Select(u => new Update(map[u.Target.Id], map.TryGetValue(u.Value.Id, out var v) ? v : throw Foreign(s, u))).ToArray();
        var graph = b.Build(outputs, loss, updates);
        return new StageGraph
        {
            Stage = s,
            Graph = graph,
            Received = received,
            Sent = sent,
            DataInputs = data,
            Saved = SavedNames(graph),
            Gradients = graph.Nodes.Where(n => n.Phase == Phase.Backward && graph.Consumers()[n.Id].Any(c => c.Phase == Phase.Update))
                             .Select(n => n.Name).ToHashSet(StringComparer.Ordinal),
        };
    }

    /// <summary>Values produced or received before the backward that the backward (or recomputation) reads.</summary>
    private static HashSet<string> SavedNames(Graph graph)
    {
        var consumers = graph.Consumers();
        return graph.Nodes
            .Where(n => n.Phase == Phase.Forward && n.Op is not (OpKind.Parameter or OpKind.State or OpKind.Constant)
                        && consumers[n.Id].Any(c => c.Phase is Phase.Backward or Phase.Recompute))
            .Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
    }

    private static PipelineException Foreign(int s, Update u) =>
        new($"stage {s}: the update of '{u.Target.Name}' is computed on another stage; plan with fewer stages");
}
