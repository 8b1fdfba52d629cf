using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Intra;

/// <summary>
/// Turns a graph into an <see cref="IntraProblem"/> [Alpa §4.2]. Heavy ops (matmul class, embedding),
/// leaves and parameter groups are ILP variables; every other op follows its largest operand: for
/// each strategy of the followed variable it takes its own cheapest strategy given that layout.
/// A parameter group's strategies are pairs (S, U): the parameter is stored at S and updated at a
/// refinement U of S (optimizer state kept at U, gradient resharded to U, the new value written back
/// to S), so data parallelism (S = U = R), ZeRO-2 (S = R, U split) and ZeRO-3 (S = U split) are all
/// in the space.
/// </summary>
internal sealed partial class ProblemBuilder
{
    /// <summary>Seconds added per strategy index so that equal plans are ordered (fixed tie-breaking).</summary>
    public const double TieBreakSeconds = 1e-12;

    private readonly Graph.Graph _graph;
    private readonly LogicalMesh _mesh;
    private readonly IntraOptions _options;
    private readonly Dictionary<Node, ParameterGroup> _groups;
    private readonly HashSet<Node> _gradProducers;
    private readonly Dictionary<(double, ShardingSpec, ShardingSpec), double> _reshardMemo = [];

    /// <summary>Variable of each node (by id).</summary>
    public int[] VarOf { get; }
    /// <summary>Each node's strategy per strategy of its variable.</summary>
    public Strategy[][] Choice { get; }
    /// <summary>The node heading each variable.</summary>
    public List<Node> Heads { get; } = [];
    public List<int> Counts { get; } = [];
    private readonly Dictionary<Node, (ShardingSpec S, ShardingSpec U)[]> _pairs = [];

    public ProblemBuilder(Graph.Graph graph, LogicalMesh mesh, IntraOptions options)
    {
        _graph = graph;
        _mesh = mesh;
        _options = options;
        _groups = ParameterGroup.Find(graph);
        _gradProducers = ParameterGroup.GradientProducers(_groups.Values.Distinct(), IsHeavy);
        VarOf = new int[graph.Nodes.Count];
        Choice = new Strategy[graph.Nodes.Count][];
        CheckPins();
        foreach (var g in _groups.Values.Distinct()) NewGroupVariable(g);
        foreach (var n in graph.Nodes) Assign(n);
    }

    public static bool IsHeavy(Node n) => OpCosts.IsMatmulClass(n.Op) || n.Op is OpKind.Embedding or OpKind.EmbeddingGrad;

    /// <summary>Whether the node is an ILP variable of its own (not a follower).</summary>
    public bool IsVariableHead(Node n) => Heads[VarOf[n.Id]] == n;

    /// <summary>The parameter group's (storage, update) specs of a variable headed by a parameter.</summary>
    public (ShardingSpec S, ShardingSpec U)[]? PairsOf(Node parameter) => _pairs.GetValueOrDefault(parameter);

    private void Assign(Node n)
    {
        if (_groups.TryGetValue(n, out var group))
        {
            if (n == group.Parameter) return;
            VarOf[n.Id] = VarOf[group.Parameter.Id];
            var pairs = _pairs[group.Parameter];
            var own = StrategyEnumerator.Enumerate(n, _mesh);
            Choice[n.Id] = [.. pairs.Select(pr => AtSpec(n, own, pr.U))];
            return;
        }
        if (IsHeavy(n) || n.IsLeaf || n.Inputs.Count == 0)
        {
            var all = StrategyEnumerator.Enumerate(n, _mesh, _gradProducers.Contains(n));
            var kept = Filter(n, all, s => s.Output);
            if (_options.StrategyFilter is { } family) kept = Keep(n, kept, s => family.Allows(n, s, _mesh));
            NewVariable(n, kept);
            return;
        }
        Follow(n);
    }

    private void NewVariable(Node head, Strategy[] strategies)
    {
        VarOf[head.Id] = Heads.Count;
        Heads.Add(head);
        Counts.Add(strategies.Length);
        Choice[head.Id] = strategies;
    }

    private void NewGroupVariable(ParameterGroup g)
    {
        var p = g.Parameter;
        var specs = ShardingSpec.All(p.Shape, _mesh);
        var pairs = new List<(ShardingSpec S, ShardingSpec U)>();
        foreach (var s in specs)
            foreach (var u in specs)
                if (Refines(u, s)) pairs.Add((s, u));
        var kept = Filter(p, [.. pairs], pr => pr.S);
        // A pinned optimizer state pins the update layout U.
        foreach (var state in g.States)
            kept = Filter(state, kept, pr => pr.U);
        if (_options.StrategyFilter is { } family) kept = Keep(p, kept, pr => family.AllowsParameter(p, pr.S, pr.U, _mesh));
        _pairs[p] = kept;
        var leaf = StrategyEnumerator.Enumerate(p, _mesh);
        NewVariable(p, [.. kept.Select(pr => leaf.First(l => l.Output.Equals(pr.S)))]);
    }

    /// <summary>True when every dim of <paramref name="u"/> splits at least as <paramref name="s"/> does, with s's axes major.</summary>
    private static bool Refines(ShardingSpec u, ShardingSpec s)
    {
        for (var d = 0; d < s.Rank; d++)
        {
            var ok = (s[d], u[d]) switch
            {
                (DimSharding.R, _) => true,
                (DimSharding.S0, DimSharding.S0 or DimSharding.S01) => true,
                (DimSharding.S1, DimSharding.S1) => true,
                (DimSharding.S01, DimSharding.S01) => true,
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }

    /// <summary>A group member's strategy whose output and same-shaped inputs are at <paramref name="spec"/>.</summary>
    private Strategy AtSpec(Node n, List<Strategy> own, ShardingSpec spec)
    {
        foreach (var s in own)
        {
            if (!s.Output.Equals(spec)) continue;
            var ok = true;
            for (var i = 0; i < s.Inputs.Count && ok; i++)
                ok = n.Inputs[i].Shape != n.Shape || s.Inputs[i].Equals(spec);
            if (ok) return s;
        }
        return own.First(s => s.Output.Equals(spec));
    }

    /// <summary>A cheap op: for every strategy of its largest operand's variable, its own cheapest strategy.</summary>
    private void Follow(Node n)
    {
        var f = 0;
        for (var i = 1; i < n.Inputs.Count; i++)
            if (n.Inputs[i].OutputBytes > n.Inputs[f].OutputBytes) f = i;
        var source = n.Inputs[f];
        var own = StrategyEnumerator.Enumerate(n, _mesh);
        if (own.Count == 0)
            throw new IntraOpException($"node '{n.Name}' ({n.Op}) has no strategy on mesh ({_mesh.N0}, {_mesh.N1})") { Field = n.Name };
        var memo = new Dictionary<ShardingSpec, Strategy>();
        var choice = new Strategy[Choice[source.Id].Length];
        for (var k = 0; k < choice.Length; k++)
        {
            var spec = Choice[source.Id][k].Output;
            if (!memo.TryGetValue(spec, out var best))
            {
                var bestCost = double.PositiveInfinity;
                foreach (var s in own)
                {
                    var c = Reshard(source.OutputBytes, spec, s.Inputs[f]) + s.ComputeSeconds + s.CommSeconds;
                    if (c < bestCost) (best, bestCost) = (s, c);
                }
                memo[spec] = best!;
            }
            choice[k] = memo[spec];
        }
        VarOf[n.Id] = VarOf[source.Id];
        Choice[n.Id] = choice;
    }

    public double Reshard(double bytes, ShardingSpec src, ShardingSpec dst)
    {
        if (src.Equals(dst)) return 0;
        if (_reshardMemo.TryGetValue((bytes, src, dst), out var c)) return c;
        return _reshardMemo[(bytes, src, dst)] = Resharding.Cost(_mesh, bytes, src, dst);
    }

    private T[] Filter<T>(Node n, IReadOnlyList<T> items, Func<T, ShardingSpec> spec)
    {
        IEnumerable<T> kept = items;
        if (_options.FixedSpecs?.TryGetValue(n.Name, out var pinned) == true)
        {
            var want = ShardingSpec.Parse(pinned);
            kept = kept.Where(x => spec(x).Equals(want));
        }
        if (_options.ForbiddenStrategies?.TryGetValue(n.Name, out var forbidden) == true && typeof(T) == typeof(Strategy))
            kept = kept.Where(x => !forbidden.Contains(((Strategy)(object)x!).Id));
        var result = kept.ToArray();
        if (result.Length == 0)
            throw new IntraOpException($"node '{n.Name}' has no strategy left on mesh ({_mesh.N0}, {_mesh.N1}) after the pinned spec / forbidden strategies: relax them") { Field = n.Name };
        return result;
    }

    /// <summary>The items the strategy filter keeps; none left is an error naming the node.</summary>
    private T[] Keep<T>(Node n, T[] items, Func<T, bool> allowed)
    {
        var result = items.Where(allowed).ToArray();
        if (result.Length == 0)
            throw new IntraOpException($"node '{n.Name}' has no strategy left on mesh ({_mesh.N0}, {_mesh.N1}) under the strategy filter: the filter must keep the replicated choice") { Field = n.Name };
        return result;
    }

    /// <summary>Pinned specs must name nodes that are variables and fit their tensors.</summary>
    private void CheckPins()
    {
        if (_options.FixedSpecs is null) return;
        foreach (var (name, dims) in _options.FixedSpecs)
        {
            if (!_graph.TryGet(name, out var node))
                throw new IntraOpException($"a fixed spec names '{name}', which is not a node of the graph") { Field = name };
            if (!(IsHeavy(node) || node.IsLeaf))
                throw new IntraOpException($"a fixed spec names '{name}' ({node.Op}): only heavy ops, parameters and inputs can be pinned") { Field = name };
            ShardingSpec.Parse(dims).CheckFits(node.Shape, _mesh, name);
        }
    }
}
