using Alpa.Planner.Graph;

namespace Alpa.Planner.Autodiff;

using Graph = Alpa.Planner.Graph.Graph;

/// <summary>
/// Reverse-mode automatic differentiation over the IR: one reverse-topological sweep that applies
/// the rule of <see cref="GradRules"/> to every node on a path from the differentiated set to the
/// loss, summing fan-out gradients with Add (<c>grad/&lt;name&gt;.acc</c>). Gradient nodes get
/// <see cref="Phase.Backward"/> and the layer of the forward node whose rule creates them (so a
/// fan-out sum belongs to the consumer that adds its second term). O(nodes + edges).
/// </summary>
public static class Backprop
{
    /// <summary>
    /// Appends to <paramref name="builder"/> the gradient of the scalar <paramref name="loss"/>
    /// with respect to each node of <paramref name="wrt"/>. A node that does not reach the loss
    /// is absent from the result (its gradient is zero).
    /// </summary>
    /// <param name="seed">dL/dloss; the constant 1 when null (a loss scale can be passed here).</param>
    /// <param name="remat">
    /// Per-layer activation recomputation: the backward of layer ℓ reads Phase.Recompute copies of
    /// layer ℓ's forward nodes, recomputed from the layer's inputs (leaves and other layers' nodes
    /// are read as they are).
    /// </param>
    public static IReadOnlyDictionary<Node, Node> Gradients(
        GraphBuilder builder, Node loss, IReadOnlyList<Node> wrt, Node? seed = null, bool remat = false)
    {
        if (loss.Shape.Rank != 0)
            throw new AlpaException($"the loss '{loss.Name}' must be a scalar to be differentiated, got {loss.Shape}") { Field = loss.Name };
        var nodes = builder.Nodes;
        var relevant = OnPath(nodes, loss, wrt);
        var (layer, phase) = (builder.Layer, builder.Phase);
        try
        {
            builder.Phase = Phase.Backward;
            builder.Layer = loss.Layer;
            var grads = new Node?[loss.Id + 1];
            grads[loss.Id] = seed ?? builder.Constant("grad/" + loss.Name, Shape.Scalar, 1.0, loss.DType);
            var recompute = new Recomputer(builder, remat);
            for (var id = loss.Id; id >= 0; id--)
            {
                var f = nodes[id];
                if (!relevant[id] || grads[id] is not { } dy || f.IsLeaf) continue;
                builder.Layer = f.Layer;
                var needs = f.Inputs.Select(i => relevant[i.Id]).ToArray();
                var context = new GradContext(builder, f, dy, needs, v => recompute.Value(v, f.Layer));
                var inputGrads = GradRules.Apply(context);
                for (var i = 0; i < f.Inputs.Count; i++)
                {
                    if (!needs[i] || inputGrads[i] is not { } g) continue;
                    var target = f.Inputs[i];
                    grads[target.Id] = grads[target.Id] is { } prev
                        ? builder.Add(prev, g, $"grad/{target.Name}.acc")
                        : g;
                }
            }
            var result = new Dictionary<Node, Node>();
            foreach (var w in wrt)
                if (w.Id < grads.Length && grads[w.Id] is { } g) result[w] = g;
            return result;
        }
        finally
        {
            (builder.Layer, builder.Phase) = (layer, phase);
        }
    }

    /// <summary>
    /// The gradient of <paramref name="graph"/>'s loss with respect to <paramref name="wrt"/>
    /// (every parameter when null): the graph extended with the backward nodes, and the gradients.
    /// </summary>
    public static (Graph Graph, IReadOnlyDictionary<Node, Node> Gradients) Differentiate(
        Graph graph, IReadOnlyList<Node>? wrt = null, bool remat = false)
    {
        var loss = graph.Loss ?? throw new AlpaException("the graph has no loss to differentiate; build it with a scalar loss");
        var builder = GraphBuilder.Extend(graph);
        var grads = Gradients(builder, loss, wrt ?? [.. graph.Parameters], null, remat);
        var outputs = graph.Outputs.Concat(grads.Values).ToList();
        return (builder.Build(outputs, loss, graph.Updates), grads);
    }

    /// <summary>Float nodes reachable from <paramref name="wrt"/> that reach <paramref name="loss"/>.</summary>
    private static bool[] OnPath(IReadOnlyList<Node> nodes, Node loss, IReadOnlyList<Node> wrt)
    {
        var count = loss.Id + 1;
        var fromWrt = new bool[count];
        foreach (var w in wrt)
        {
            if (w.Id >= nodes.Count || !ReferenceEquals(nodes[w.Id], w))
                throw new AlpaException($"'{w.Name}' is not a node of the graph being differentiated") { Field = w.Name };
            if (w.Id < count) fromWrt[w.Id] = true;
        }
        for (var id = 0; id < count; id++)
        {
            var n = nodes[id];
            if (!fromWrt[id]) fromWrt[id] = n.Inputs.Any(i => fromWrt[i.Id]);
            fromWrt[id] &= n.DType.IsFloat();
        }
        var toLoss = new bool[count];
        toLoss[loss.Id] = true;
        for (var id = loss.Id; id >= 0; id--)
        {
            if (!toLoss[id]) continue;
            foreach (var i in nodes[id].Inputs) toLoss[i.Id] = true;
        }
        for (var id = 0; id < count; id++) fromWrt[id] &= toLoss[id];
        return fromWrt;
    }
}
