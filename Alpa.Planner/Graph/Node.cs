namespace Alpa.Planner.Graph;

/// <summary>
/// The one IR node type: immutable, created only by <see cref="GraphBuilder"/>, which checks its
/// operands. A node has exactly one output tensor.
/// </summary>
public sealed class Node
{
    internal Node(int id, OpKind op, Node[] inputs, Shape shape, DType dtype, OpAttrs attrs,
                  string name, int layer, Phase phase, object owner)
    {
        Id = id;
        Op = op;
        Inputs = inputs;
        Shape = shape;
        DType = dtype;
        Attrs = attrs;
        Name = name;
        Layer = layer;
        Phase = phase;
        Owner = owner;
        Flops = OpCosts.Flops(this);
        Bytes = OpCosts.Bytes(this);
    }

    /// <summary>Index in <see cref="Graph.Nodes"/> (topological order).</summary>
    public int Id { get; }
    public OpKind Op { get; }
    public IReadOnlyList<Node> Inputs { get; }
    public Shape Shape { get; }
    public DType DType { get; }
    public OpAttrs Attrs { get; }
    /// <summary>Stable, unique name: <c>layers.3.mlp.fc1</c>, <c>layers.3.mlp.fc1.weight</c>, <c>grad/…</c>.</summary>
    public string Name { get; }
    /// <summary>The model's layer this node belongs to (marked by the model builder); −1 when none.</summary>
    public int Layer { get; }
    public Phase Phase { get; }
    /// <summary>Floating-point operations to compute this node once.</summary>
    public double Flops { get; }
    /// <summary>Bytes read and written by this node (inputs + output); 0 for views such as reshape.</summary>
    public double Bytes { get; }

    /// <summary>Size of the output tensor in bytes.</summary>
    public long OutputBytes => Shape.Elements * DType.Size();
    public bool IsLeaf => Op is OpKind.Parameter or OpKind.Input or OpKind.Constant or OpKind.State;

    /// <summary>The builder lineage that created this node; nodes of different graphs cannot mix.</summary>
    internal object Owner { get; }

    public override string ToString() => $"%{Id} {Name} = {Op}({string.Join(", ", Inputs.Select(i => "%" + i.Id))}) : {DType.ToJsonName()}{Shape}";
}
