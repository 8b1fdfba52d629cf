using Alpa.Planner.Graph;

namespace Alpa.Planner.Autodiff;

/// <summary>
/// Activation rematerialization for the backward pass: the forward value of a node of layer ℓ,
/// as read by layer ℓ's backward, is a <see cref="Phase.Recompute"/> copy computed from layer ℓ's
/// inputs. Copies are made on first use (only what a gradient rule reads, and what that needs),
/// once per node.
/// </summary>
internal sealed class Recomputer(GraphBuilder builder, bool enabled)
{
    private readonly Dictionary<int, Node> _copies = [];

    /// <summary>The value of <paramref name="node"/> seen from the backward of <paramref name="layer"/>.</summary>
    public Node Value(Node node, int layer) =>
        enabled && Recomputable(node, layer) ? Copy(node) : node;

    private static bool Recomputable(Node node, int layer) =>
        layer >= 0 && node.Layer == layer && !node.IsLeaf && node.Phase == Phase.Forward;

    private Node Copy(Node node)
    {
        if (_copies.TryGetValue(node.Id, out var done)) return done;
        // Every not-yet-copied node of the layer this one depends on, copied in id (topological) order.
        var pending = new SortedSet<int>();
        var stack = new Stack<Node>([node]);
        while (stack.TryPop(out var n))
        {
            if (_copies.ContainsKey(n.Id) || !pending.Add(n.Id)) continue;
            foreach (var i in n.Inputs)
                if (Recomputable(i, node.Layer)) stack.Push(i);
        }
        var (layer, phase) = (builder.Layer, builder.Phase);
        builder.Layer = node.Layer;
        builder.Phase = Phase.Recompute;
        try
        {
            foreach (var id in pending)
            {
                var n = builder.Nodes[id];
                var inputs = n.Inputs.Select(i => _copies.TryGetValue(i.Id, out var c) && Recomputable(i, node.Layer) ? c : i).ToArray();
                _copies[id] = builder.Op(n.Op, inputs, n.Attrs, "recompute/" + n.Name);
            }
        }
        finally
        {
            (builder.Layer, builder.Phase) = (layer, phase);
        }
        return _copies[node.Id];
    }
}
