namespace Alpa.Planner.Graph;

/// <summary>
/// Creates nodes, checking shapes, dtypes and attributes as each is built (a bad node throws
/// <see cref="ShapeException"/> naming the node). Names are scoped (<see cref="Scope"/>) and made
/// unique; the current <see cref="Layer"/> and <see cref="Phase"/> are stamped on every node.
/// </summary>
public sealed partial class GraphBuilder
{
    private readonly List<Node> _nodes;
    private readonly HashSet<string> _names;
    private readonly List<string> _scopes = [];
    private readonly object _owner;

    public GraphBuilder()
    {
        _nodes = [];
        _names = new HashSet<string>(StringComparer.Ordinal);
        _owner = new object();
    }

    private GraphBuilder(Graph graph)
    {
        _nodes = [.. graph.Nodes];
        _names = new HashSet<string>(graph.Nodes.Select(n => n.Name), StringComparer.Ordinal);
        _owner = graph.Owner;
    }

    /// <summary>A builder that appends to an existing graph (autodiff, optimizers): its nodes stay valid.</summary>
    public static GraphBuilder Extend(Graph graph) => new(graph);

    /// <summary>Layer index stamped on new nodes (−1: none).</summary>
    public int Layer { get; set; } = -1;

    /// <summary>Phase stamped on new nodes.</summary>
    public Phase Phase { get; set; } = Phase.Forward;

    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>Pushes a name scope: nodes created inside are named <c>scope.name</c>.</summary>
    public IDisposable Scope(string name)
    {
        _scopes.Add(name);
        return new PopScope(_scopes);
    }

    public Graph Build(IReadOnlyList<Node> outputs, Node? loss = null, IReadOnlyList<Update>? updates = null)
    {
        foreach (var o in outputs) CheckOwned(o, "output");
        if (loss is not null)
        {
            CheckOwned(loss, "loss");
            if (loss.Shape.Rank != 0) throw new ShapeException($"the loss '{loss.Name}' must be a scalar, got {loss.Shape}");
        }
        updates ??= [];
        foreach (var u in updates)
        {
            CheckOwned(u.Target, "update target");
            CheckOwned(u.Value, "update value");
            if (u.Target.Op is not (OpKind.Parameter or OpKind.State))
                throw new ShapeException($"update target '{u.Target.Name}' is a {u.Target.Op}, not a parameter or state");
            if (u.Target.Shape != u.Value.Shape || u.Target.DType != u.Value.DType)
                throw new ShapeException($"update of '{u.Target.Name}' has {u.Value.DType.ToJsonName()}{u.Value.Shape}, expected {u.Target.DType.ToJsonName()}{u.Target.Shape}");
        }
        return new Graph([.. _nodes], [.. outputs], loss, [.. updates], _owner);
    }

    /// <summary>A leaf: parameter, input, constant or state.</summary>
    public Node Leaf(OpKind op, string name, Shape shape, DType dtype, OpAttrs? attrs = null)
    {
        if (op is not (OpKind.Parameter or OpKind.Input or OpKind.Constant or OpKind.State))
            throw new ShapeException($"'{name}': {op} is not a leaf op");
        return Append(op, [], shape, dtype, attrs ?? OpAttrs.None, name);
    }

    /// <summary>
    /// Any non-leaf op: shape and dtype are inferred and checked. The typed helpers
    /// (<see cref="MatMul"/>, <see cref="Add"/>, …) call this; graph files go through it too.
    /// </summary>
    public Node Op(OpKind op, IReadOnlyList<Node> inputs, OpAttrs? attrs = null, string? name = null)
    {
        attrs ??= OpAttrs.None;
        var label = name ?? op.ToString().ToLowerInvariant();
        foreach (var i in inputs) CheckOwned(i, $"input of '{label}'");
        var (shape, dtype) = Infer(op, inputs, attrs, label);
        return Append(op, [.. inputs], shape, dtype, attrs, label);
    }

    private Node Append(OpKind op, Node[] inputs, Shape shape, DType dtype, OpAttrs attrs, string name)
    {
        var full = UniqueName(name);
        var node = new Node(_nodes.Count, op, inputs, shape, dtype, attrs, full, Layer, Phase, _owner);
        _nodes.Add(node);
        return node;
    }

    private string UniqueName(string name)
    {
        var full = _scopes.Count == 0 ? name : string.Join('.', _scopes) + "." + name;
        if (_names.Add(full)) return full;
        for (var k = 1; ; k++)
        {
            var candidate = $"{full}#{k}";
            if (_names.Add(candidate)) return candidate;
        }
    }

    private void CheckOwned(Node node, string role)
    {
        if (!ReferenceEquals(node.Owner, _owner) || node.Id >= _nodes.Count || !ReferenceEquals(_nodes[node.Id], node))
            throw new ShapeException($"{role} '{node.Name}' belongs to another graph");
    }

    private sealed class PopScope(List<string> scopes) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            scopes.RemoveAt(scopes.Count - 1);
        }
    }
}
