using Alpa.Planner.Graph;

namespace Alpa.Planner.Inter;

/// <summary>How the forward graph is cut into layers.</summary>
public sealed record LayerClusteringOptions
{
    /// <summary>Number of layers L; null picks the largest L ≤ <see cref="MaxAutoLayers"/> that satisfies the constraints.</summary>
    public int? Layers { get; init; }
    /// <summary>Use the model's marked layers (<see cref="Node.Layer"/>) as atoms instead of single nodes.</summary>
    public bool UseMarkedLayers { get; init; }
    /// <summary>δ of eq. (6): each layer's FLOPs ≤ (1 + δ)·mean. Alpa's code uses 0.5.</summary>
    public double Delta { get; init; } = 0.5;
    /// <summary>Least number of matmul-class ops per layer (Alpa's code: 3).</summary>
    public int MinHeavyOpsPerLayer { get; init; } = 3;
    /// <summary>Upper bound on the automatic L.</summary>
    public int MaxAutoLayers { get; init; } = 16;
}

/// <summary>The forward graph cut into L layers.</summary>
public sealed class LayerClusteringResult
{
    private readonly long[] _transfer;
    private readonly Dictionary<(int, int), List<string>> _names;

    internal LayerClusteringResult(int layers, int[] nodeLayer, (long[] Bytes, Dictionary<(int, int), List<string>> Names) transfer, long maxInputBytes)
    {
        LayerCount = layers;
        NodeLayer = nodeLayer;
        (_transfer, _names) = transfer;
        MaxInputBytes = maxInputBytes;
    }

    public int LayerCount { get; }
    /// <summary>Layer of every forward node by node id (leaves: the layer of their first forward consumer); −1 for nodes of other phases.</summary>
    public IReadOnlyList<int> NodeLayer { get; }
    /// <summary>The largest number of bytes any layer receives from earlier layers (eq. 6's objective).</summary>
    public long MaxInputBytes { get; }
    /// <summary>Bytes of distinct tensors produced in layer <paramref name="producer"/> and read in the later layer <paramref name="consumer"/>.</summary>
    public long TransferBytes(int producer, int consumer) => _transfer[producer * LayerCount + consumer];
    /// <summary>Names of the tensors behind <see cref="TransferBytes"/>, in graph order.</summary>
    public IReadOnlyList<string> TransferNames(int producer, int consumer) => _names.TryGetValue((producer, consumer), out var n) ? n : [];
}

/// <summary>Operator clustering of the inter-operator pass [Alpa §5.2, eq. (6)].</summary>
public static partial class LayerClustering
{
    public static LayerClusteringResult Cluster(Graph.Graph graph, LayerClusteringOptions? options = null)
    {
        options ??= new LayerClusteringOptions();
        var forward = graph.Nodes.Where(n => n.Phase == Phase.Forward && !n.IsLeaf).ToArray();
        if (forward.Length == 0) throw new InterOpException("the graph has no forward compute nodes to cut into layers") { Field = "graph" };
        var atomOf = options.UseMarkedLayers ? MarkedAtoms(forward) : forward.Select((_, i) => i).ToArray();
        var atoms = BuildAtoms(forward, atomOf);
        var (starts, maxIn) = Cut(atoms, options);
        var nodeLayer = new int[graph.Nodes.Count];
        Array.Fill(nodeLayer, -1);
        for (var f = 0; f < forward.Length; f++)
            nodeLayer[forward[f].Id] = LayerOf(starts, atomOf[f]);
        AssignLeaves(graph, nodeLayer);
        return new LayerClusteringResult(starts.Count, nodeLayer, Transfers(forward, nodeLayer, starts.Count), maxIn);
    }

    private static (IReadOnlyList<int> Starts, long MaxIn) Cut(IReadOnlyList<ClusterAtom> atoms, LayerClusteringOptions options)
    {
        if (options.Layers is int given)
        {
            if (given < 1 || given > atoms.Count)
                throw new InterOpException($"cannot cut {atoms.Count} units into {given} layers; choose between 1 and {atoms.Count}") { Field = "layers" };
            if (given == atoms.Count && options.UseMarkedLayers)
                return (Enumerable.Range(0, given).ToArray(), 0);
            var solved = Solve(atoms, given, options.Delta, options.MinHeavyOpsPerLayer)
                ?? throw new InterOpException($"no cut into {given} layers has ≥ {options.MinHeavyOpsPerLayer} heavy ops and ≤ (1+{options.Delta})·mean FLOPs per layer; ask for fewer layers") { Field = "layers" };
            return (solved.Starts, solved.MaxInputBytes);
        }
        if (options.UseMarkedLayers) return (Enumerable.Range(0, atoms.Count).ToArray(), 0);
        var heavy = atoms.Sum(a => a.HeavyOps);
        var top = Math.Min(Math.Min(options.MaxAutoLayers, atoms.Count), Math.Max(1, heavy / Math.Max(1, options.MinHeavyOpsPerLayer)));
        for (var l = top; l >= 1; l--)
        {
            var solved = Solve(atoms, l, options.Delta, options.MinHeavyOpsPerLayer);
            if (solved is not null) return (solved.Starts, solved.MaxInputBytes);
        }
        // Too few heavy ops for even one constrained layer: the whole graph is one layer.
        return ([0], 0);
    }

    /// <summary>Atom index of each forward node from the model's marks: unmarked nodes join the previous marked one (the first layer before any).</summary>
    private static int[] MarkedAtoms(Node[] forward)
    {
        var marks = forward.Where(n => n.Layer >= 0).Select(n => n.Layer).Distinct().ToList();
        if (marks.Count == 0) throw new InterOpException("the model marks no layers; cluster automatically instead") { Field = "layers" };
        var rank = marks.Select((m, i) => (m, i)).ToDictionary(x => x.m, x => x.i);
        var atomOf = new int[forward.Length];
        var current = 0;
        for (var f = 0; f < forward.Length; f++)
        {
            if (forward[f].Layer >= 0) current = Math.Max(current, rank[forward[f].Layer]);
            atomOf[f] = current;
        }
        return atomOf;
    }

    private static List<ClusterAtom> BuildAtoms(Node[] forward, int[] atomOf)
    {
        var count = atomOf.Length == 0 ? 0 : atomOf.Max() + 1;
        var flops = new double[count];
        var heavy = new int[count];
        var inputs = Enumerable.Range(0, count).Select(_ => new List<(int, int, long)>()).ToArray();
        var seen = new HashSet<(int Tensor, int Atom)>();
        var atomOfNode = new Dictionary<int, int>();
        for (var f = 0; f < forward.Length; f++) atomOfNode[forward[f].Id] = atomOf[f];
        for (var f = 0; f < forward.Length; f++)
        {
            var node = forward[f];
            var a = atomOf[f];
            flops[a] += node.Flops;
            if (OpCosts.IsMatmulClass(node.Op)) heavy[a]++;
            foreach (var input in node.Inputs)
                if (atomOfNode.TryGetValue(input.Id, out var p) && p < a && seen.Add((input.Id, a)))
                    inputs[a].Add((p, input.Id, input.OutputBytes));
        }
        return Enumerable.Range(0, count).Select(a => new ClusterAtom(flops[a], heavy[a], inputs[a])).ToList();
    }

    private static int LayerOf(IReadOnlyList<int> starts, int atom)
    {
        var layer = 0;
        while (layer + 1 < starts.Count && starts[layer + 1] <= atom) layer++;
        return layer;
    }

    private static void AssignLeaves(Graph.Graph graph, int[] nodeLayer)
    {
        foreach (var node in graph.Nodes)
        {
            if (node.IsLeaf || nodeLayer[node.Id] < 0) continue;
            foreach (var input in node.Inputs)
                if (input.IsLeaf && nodeLayer[input.Id] < 0) nodeLayer[input.Id] = nodeLayer[node.Id];
        }
    }

    private static (long[], Dictionary<(int, int), List<string>>) Transfers(Node[] forward, int[] nodeLayer, int layers)
    {
        var transfer = new long[layers * layers];
        var names = new Dictionary<(int, int), List<string>>();
        var seen = new HashSet<(int Tensor, int Layer)>();
        foreach (var node in forward)
        {
            var q = nodeLayer[node.Id];
            foreach (var input in node.Inputs)
            {
                if (input.IsLeaf || input.Phase != Phase.Forward) continue;
                var p = nodeLayer[input.Id];
                if (p < 0 || p >= q || !seen.Add((input.Id, q))) continue;
                transfer[p * layers + q] += input.OutputBytes;
                if (!names.TryGetValue((p, q), out var list)) names[(p, q)] = list = [];
                list.Add(input.Name);
            }
        }
        return (transfer, names);
    }
}
