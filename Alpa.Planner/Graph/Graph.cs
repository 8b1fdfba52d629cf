namespace Alpa.Planner.Graph;

/// <summary>A parameter or state buffer and the node that holds its value after one step.</summary>
public sealed record Update(Node Target, Node Value);

/// <summary>
/// An immutable dataflow graph: nodes in topological order (<c>Nodes[i].Id == i</c>), its outputs,
/// the scalar loss when it is a model, and for a training graph the new value of every parameter
/// and optimizer state.
/// </summary>
public sealed class Graph
{
    private Dictionary<string, Node>? _byName;
    private int[]? _lastUse;

    internal Graph(IReadOnlyList<Node> nodes, IReadOnlyList<Node> outputs, Node? loss, IReadOnlyList<Update> updates, object owner)
    {
        Nodes = nodes;
        Outputs = outputs;
        Loss = loss;
        Updates = updates;
        Owner = owner;
    }

    public IReadOnlyList<Node> Nodes { get; }
    public IReadOnlyList<Node> Outputs { get; }
    /// <summary>The scalar training loss, when the graph is a model.</summary>
    public Node? Loss { get; }
    /// <summary>Parameter and state updates of a training graph (empty for a forward graph).</summary>
    public IReadOnlyList<Update> Updates { get; }
    internal object Owner { get; }

    public IEnumerable<Node> Parameters => Nodes.Where(n => n.Op == OpKind.Parameter);
    public IEnumerable<Node> Inputs => Nodes.Where(n => n.Op == OpKind.Input);

    /// <summary>Number of trainable scalars.</summary>
    public long ParameterCount => Parameters.Sum(p => p.Shape.Elements);

    /// <summary>Total FLOPs of one evaluation of every node.</summary>
    public double Flops => Nodes.Sum(n => n.Flops);

    public Node this[string name] => TryGet(name, out var n)
        ? n : throw new AlpaException($"the graph has no node named '{name}'") { Field = name };

    public bool TryGet(string name, out Node node)
    {
        _byName ??= Nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        return _byName.TryGetValue(name, out node!);
    }

    /// <summary>For each node id, the id of the last node that reads it (its own id when none does).</summary>
    public IReadOnlyList<int> LastUse
    {
        get
        {
            if (_lastUse is not null) return _lastUse;
            var last = new int[Nodes.Count];
            for (var i = 0; i < last.Length; i++) last[i] = i;
            foreach (var n in Nodes)
                foreach (var input in n.Inputs)
                    last[input.Id] = Math.Max(last[input.Id], n.Id);
            return _lastUse = last;
        }
    }

    /// <summary>Consumers of every node, by id.</summary>
    public IReadOnlyList<IReadOnlyList<Node>> Consumers()
    {
        var users = new List<Node>[Nodes.Count];
        for (var i = 0; i < users.Length; i++) users[i] = [];
        foreach (var n in Nodes)
            foreach (var input in n.Inputs.Distinct())
                users[input.Id].Add(n);
        return users;
    }

    public override string ToString() => string.Join('\n', Nodes);
}
