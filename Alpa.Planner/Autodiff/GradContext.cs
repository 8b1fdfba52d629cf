using Alpa.Planner.Graph;

namespace Alpa.Planner.Autodiff;

/// <summary>
/// What a gradient rule sees: the forward node, the gradient of its output, which inputs need a
/// gradient, and the forward values as the backward pass reads them (recomputed copies under
/// rematerialization). New nodes are named <c>grad/&lt;forward name&gt;.&lt;what&gt;</c>.
/// </summary>
internal sealed class GradContext(GraphBuilder builder, Node node, Node dy, bool[] needs, Func<Node, Node> value)
{
    public Node Node => node;
    public OpAttrs Attrs => node.Attrs;
    /// <summary>Gradient of the loss with respect to the node's output.</summary>
    public Node Dy => dy;
    /// <summary>The node's output value.</summary>
    public Node Y => value(node);

    /// <summary>The value of input <paramref name="i"/>.</summary>
    public Node X(int i) => value(node.Inputs[i]);

    /// <summary>Whether input <paramref name="i"/> lies on a path from the differentiated set.</summary>
    public bool Needs(int i) => needs[i];

    public Node Op(OpKind op, string what, OpAttrs? attrs, params Node[] inputs) =>
        builder.Op(op, inputs, attrs, $"grad/{node.Name}.{what}");

    public Node Scale(Node x, double factor, string what) => Op(OpKind.Scale, what, new OpAttrs { Value = factor }, x);

    public Node Reshape(Node x, Shape shape, string what) =>
        x.Shape == shape ? x : Op(OpKind.Reshape, what, new OpAttrs { Shape = shape.ToArray() }, x);

    public Node MatMul(Node a, Node b, bool transA, bool transB, string what) =>
        Op(OpKind.MatMul, what, new OpAttrs { TransA = transA, TransB = transB }, a, b);

    /// <summary>Swaps the last two axes.</summary>
    public Node TransposeLast(Node x, string what)
    {
        var r = x.Shape.Rank;
        var perm = Enumerable.Range(0, r).ToArray();
        (perm[r - 2], perm[r - 1]) = (perm[r - 1], perm[r - 2]);
        return Op(OpKind.Transpose, what, new OpAttrs { Axes = perm }, x);
    }

    /// <summary>
    /// Undoes NumPy broadcasting: sums <paramref name="g"/> over the axes broadcast to reach its
    /// shape from <paramref name="shape"/>, then reshapes to <paramref name="shape"/>.
    /// </summary>
    public Node SumTo(Node g, Shape shape, string what)
    {
        if (g.Shape == shape) return g;
        var offset = g.Shape.Rank - shape.Rank;
        var axes = Enumerable.Range(0, g.Shape.Rank)
            .Where(i => i < offset || (shape[i - offset] == 1 && g.Shape[i] != 1))
            .ToArray();
        var summed = axes.Length == 0 ? g : Op(OpKind.ReduceSum, what + ".sum", new OpAttrs { Axes = axes }, g);
        return Reshape(summed, shape, what);
    }
}
