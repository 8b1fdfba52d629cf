using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Intra;

namespace Alpa.Planner.Planning;

using Alpa.Planner.Sharding;

/// <summary>
/// The intra-op plan of one layer on one mesh, split the way the stage DP needs it: forward and
/// backward time per microbatch, the once-per-step gradient sync and optimizer update, memory.
/// Names are kept by node position so that a plan solved for one layer serves every layer with
/// the same structure.
/// </summary>
internal sealed record LayerCost
{
    public static LayerCost None { get; } = new() { Infeasible = true };

    public bool Infeasible { get; init; }
    public double ForwardSeconds { get; init; }
    public double BackwardSeconds { get; init; }
    public double UpdateSeconds { get; init; }
    public IReadOnlyList<StepCollective> Sync { get; init; } = [];
    /// <summary>Per-device parameters, gradients and optimizer state.</summary>
    public long ParameterBytes { get; init; }
    /// <summary>Per-device activations a microbatch keeps from forward to backward.</summary>
    public long ActivationBytes { get; init; }
    /// <summary>Per-device working memory beyond those while the layer runs (transient tensors).</summary>
    public long WorkspaceBytes { get; init; }
    public double Flops { get; init; }
    /// <summary>Heavy node position → strategy id.</summary>
    public IReadOnlyDictionary<int, string> Strategies { get; init; } = new Dictionary<int, string>();
    /// <summary>Parameter node position → spec per dim.</summary>
    public IReadOnlyDictionary<int, string[]> ParameterSpecs { get; init; } = new Dictionary<int, string[]>();
    /// <summary>Position of a forward tensor the layer exchanges with other layers → spec per dim, and whether the layer produces it (else reads it).</summary>
    public IReadOnlyDictionary<int, (string[] Spec, bool Produced)> BoundarySpecs { get; init; } = new Dictionary<int, (string[], bool)>();

    public static LayerCost From(LayerSubgraph layer, IntraResult r)
    {
        var graph = layer.Graph;
        var gradients = GradientProducers(graph);
        double forward = 0, backward = 0, update = 0, flops = 0, stateBytes = 0, savedBytes = 0;
        var sync = new List<StepCollective>();
        var strategies = new Dictionary<int, string>();
        var specs = new Dictionary<int, string[]>();
        foreach (var n in graph.Nodes)
        {
            if (!r.NodeStrategies.TryGetValue(n.Name, out var s)) continue;
            if (n.Op is OpKind.Parameter or OpKind.State) stateBytes += s.MemoryBytes;
            if (n.Op == OpKind.Parameter && r.ParameterSpecs.TryGetValue(n.Name, out var spec)) specs[n.Id] = spec;
            if (r.Strategies.TryGetValue(n.Name, out var id)) strategies[n.Id] = id;
            if (n.IsLeaf) continue;
            if (layer.Saved.Contains(n.Id)) savedBytes += s.MemoryBytes;
            flops += n.Flops;
            var comm = 0.0;
            foreach (var c in s.Collectives)
            {
                if (gradients.Contains(n.Id) && c.Kind is CollectiveKind.AllReduce or CollectiveKind.ReduceScatter)
                    sync.Add(new StepCollective { Kind = c.Kind, Axis = c.Axes, Bytes = (long)c.Bytes, Seconds = c.Seconds });
                else comm += c.Seconds;
            }
            var t = s.ComputeSeconds + comm;
            switch (n.Phase)
            {
                case Phase.Forward: forward += t; break;
                case Phase.Update: update += t; break;
                default: backward += t; break;
            }
        }
        // Resharding between ops is charged on edges, not nodes: spread it over forward and backward.
        var accounted = forward + backward + update + sync.Sum(c => c.Seconds);
        var rest = Math.Max(0, r.ObjectiveSeconds - accounted);
        var share = forward + backward > 0 ? forward / (forward + backward) : 0.5;
        return new LayerCost
        {
            ForwardSeconds = forward + rest * share,
            BackwardSeconds = backward + rest * (1 - share),
            UpdateSeconds = update,
            Sync = sync,
            ParameterBytes = (long)stateBytes,
            ActivationBytes = (long)savedBytes,
            WorkspaceBytes = (long)Math.Max(0, r.PeakMemoryBytes - stateBytes - savedBytes),
            Flops = flops,
            Strategies = strategies,
            ParameterSpecs = specs,
            BoundarySpecs = Boundary(graph, r),
        };
    }

    /// <summary>Specs of the layer's forward inputs from other layers and of its forward outputs.</summary>
    private static Dictionary<int, (string[], bool)> Boundary(Graph.Graph graph, IntraResult r)
    {
        var specs = new Dictionary<int, (string[], bool)>();
        var outputs = graph.Outputs.Select(o => o.Id).ToHashSet();
        foreach (var n in graph.Nodes)
        {
            var boundary = n.Phase == Phase.Forward && (n.Op == OpKind.Input || (!n.IsLeaf && outputs.Contains(n.Id)));
            if (boundary && r.NodeStrategies.TryGetValue(n.Name, out var s)) specs[n.Id] = (s.Output.ToStrings(), !n.IsLeaf);
        }
        return specs;
    }

    /// <summary>Sums the layers of a stage; names are resolved against each layer's own graph.</summary>
    public static StageCost Combine(IReadOnlyList<(LayerSubgraph Layer, LayerCost Cost)> parts)
    {
        var strategies = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var specs = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        var boundary = new SortedDictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var (layer, cost) in parts)
        {
            foreach (var (pos, id) in cost.Strategies) strategies[layer.Graph.Nodes[pos].Name] = id;
            foreach (var (pos, spec) in cost.ParameterSpecs) specs[layer.Graph.Nodes[pos].Name] = spec;
        }
        // A tensor produced in the stage keeps its producer's spec even when a later layer of the stage reads it.
        foreach (var produced in new[] { false, true })
            foreach (var (layer, cost) in parts)
                foreach (var (pos, (spec, isOutput)) in cost.BoundarySpecs)
                    if (isOutput == produced) boundary[layer.Graph.Nodes[pos].Name] = spec;
        return new StageCost
        {
            ForwardSeconds = parts.Sum(p => p.Cost.ForwardSeconds),
            BackwardSeconds = parts.Sum(p => p.Cost.BackwardSeconds),
            UpdateSeconds = parts.Sum(p => p.Cost.UpdateSeconds),
            StepCollectives = parts.SelectMany(p => p.Cost.Sync).ToArray(),
            // Layers run one after another: their transient working memory does not add up.
            ParameterBytes = parts.Sum(p => p.Cost.ParameterBytes) + parts.Max(p => p.Cost.WorkspaceBytes),
            ActivationBytes = parts.Sum(p => p.Cost.ActivationBytes),
            Flops = parts.Sum(p => p.Cost.Flops),
            Strategies = strategies,
            ParameterSpecs = specs,
            BoundarySpecs = boundary,
        };
    }

    /// <summary>
    /// Backward nodes whose value is a parameter gradient: they feed the update directly or through
    /// accumulation, casts and loss-scale corrections. Their reductions over the data-parallel axis
    /// run once per step, after the last microbatch, not once per microbatch.
    /// </summary>
    private static HashSet<int> GradientProducers(Graph.Graph graph)
    {
        var consumers = graph.Consumers();
        var set = new HashSet<int>();
        var work = new Stack<Node>();
        foreach (var n in graph.Nodes)
        {
            if (n.Phase is Phase.Backward && consumers[n.Id].Any(c => c.Phase == Phase.Update)) work.Push(n);
        }
        while (work.TryPop(out var n))
        {
            if (!set.Add(n.Id)) continue;
            if (n.Op is OpKind.Add or OpKind.Cast or OpKind.Scale)
                foreach (var i in n.Inputs)
                    if (i.Phase == Phase.Backward && !i.IsLeaf) work.Push(i);
        }
        return set;
    }
}
