using System.Security.Cryptography;
using System.Text;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Planning;

using Graph = Alpa.Planner.Graph.Graph;

/// <summary>
/// The part of a training graph that belongs to one marked model layer: its forward, recomputed,
/// backward and update nodes (autodiff and the optimizer stamp every node with the layer of the
/// forward node or parameter it came from). Tensors produced by other layers enter as inputs.
/// </summary>
public sealed class LayerSubgraph
{
    private LayerSubgraph(int layer, Graph graph, string signature, IReadOnlySet<int> saved)
    {
        Layer = layer;
        Graph = graph;
        Signature = signature;
        Saved = saved;
    }

    /// <summary>The marked layer (<see cref="Node.Layer"/>) of the model.</summary>
    public int Layer { get; }
    /// <summary>The layer's nodes as a graph of their own, original names kept.</summary>
    public Graph Graph { get; }
    /// <summary>
    /// Structure without names: two layers with the same signature (GPT's repeated blocks) have the
    /// same costs and their nodes correspond one to one, in order.
    /// </summary>
    public string Signature { get; }
    /// <summary>
    /// Ids (in <see cref="Graph"/>) of the forward nodes the backward pass reads, anywhere in the
    /// training graph: the activations a microbatch keeps from its forward to its backward pass.
    /// With rematerialization only the layer's boundary tensors remain.
    /// </summary>
    public IReadOnlySet<int> Saved { get; }

    /// <summary>Splits a training graph into one subgraph per marked layer (nodes of layer −1 are left out).</summary>
    public static IReadOnlyList<LayerSubgraph> Split(Graph training)
    {
        var byLayer = new SortedDictionary<int, List<Node>>();
        foreach (var n in training.Nodes)
        {
            if (n.Layer < 0 || n.IsLeaf) continue;
            if (!byLayer.TryGetValue(n.Layer, out var list)) byLayer[n.Layer] = list = [];
            list.Add(n);
        }
        var consumers = training.Consumers();
        return byLayer.Select(kv => Extract(training, kv.Key, kv.Value, consumers)).ToArray();
    }

    private static LayerSubgraph Extract(Graph training, int layer, List<Node> nodes, IReadOnlyList<IReadOnlyList<Node>> consumers)
    {
        var b = new GraphBuilder { Layer = layer };
        var map = new Dictionary<int, Node>();
        var signature = new StringBuilder();
        var local = new Dictionary<int, int>();
        Node Map(Node n)
        {
            if (map.TryGetValue(n.Id, out var m)) return m;
            // A leaf of this layer keeps its kind (parameter, state); anything else from outside is an input.
            var op = n.IsLeaf && (n.Layer == layer || n.Op is OpKind.Input or OpKind.Constant) ? n.Op : OpKind.Input;
            b.Phase = n.Phase;
            m = b.Leaf(op, n.Name, n.Shape, n.DType, op == n.Op ? n.Attrs : null);
            Sign(signature, local, n, op, []);
            return map[n.Id] = m;
        }
        foreach (var n in nodes)
        {
            var inputs = n.Inputs.Select(Map).ToArray();
            b.Phase = n.Phase;
            map[n.Id] = b.Op(n.Op, inputs, n.Attrs, n.Name);
            Sign(signature, local, n, n.Op, n.Inputs);
        }
        var inLayer = nodes.Select(n => n.Id).ToHashSet();
        var outputs = nodes.Where(n => consumers[n.Id].Any(c => !inLayer.Contains(c.Id)) || training.Outputs.Contains(n))
                           .Select(n => map[n.Id]).ToList();
        var loss = training.Loss is { } l && inLayer.Contains(l.Id) ? map[l.Id] : null;
        if (loss is not null && !outputs.Contains(loss)) outputs.Add(loss);
        var updates = training.Updates
            .Where(u => map.ContainsKey(u.Target.Id) && map[u.Target.Id].Op == u.Target.Op && inLayer.Contains(u.Value.Id))
            .Select(u => new Update(map[u.Target.Id], map[u.Value.Id])).ToArray();
        var graph = b.Build(outputs, loss, updates);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(signature.ToString())));
        var saved = nodes.Where(n => n.Phase == Phase.Forward && consumers[n.Id].Any(c => c.Phase is Phase.Backward or Phase.Recompute))
                         .Select(n => map[n.Id].Id).ToHashSet();
        return new LayerSubgraph(layer, graph, hash, saved);
    }

    private static void Sign(StringBuilder s, Dictionary<int, int> local, Node n, OpKind op, IReadOnlyList<Node> inputs)
    {
        local[n.Id] = local.Count;
        s.Append((int)op).Append(':').Append(n.Shape).Append(n.DType.ToJsonName()).Append(':').Append((int)n.Phase)
         .Append(':').Append(n.Attrs.GetHashCode()).Append('(');
        foreach (var i in inputs) s.Append(local[i.Id]).Append(',');
        s.Append(");");
    }
}
