using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>
/// A trainable parameter with its optimizer state and update, found structurally: an
/// AdamUpdate/SgdUpdate whose first input is the parameter, the AdamMoment/SgdMomentum inputs of that
/// update and their State buffers. The gradient is whatever feeds the moments (or the SGD step).
/// </summary>
internal sealed record ParameterGroup(Node Parameter, Node Update, IReadOnlyList<Node> States,
    IReadOnlyList<Node> Moments, IReadOnlyList<Node> Gradients)
{
    public IEnumerable<Node> Members => [Parameter, Update, .. States, .. Moments];

    public static Dictionary<Node, ParameterGroup> Find(Graph.Graph graph)
    {
        var byMember = new Dictionary<Node, ParameterGroup>();
        foreach (var w in graph.Nodes)
        {
            if (w.Op is not (OpKind.AdamUpdate or OpKind.SgdUpdate) || w.Inputs[0].Op != OpKind.Parameter) continue;
            var p = w.Inputs[0];
            if (byMember.ContainsKey(p))
                throw new IntraOpException($"parameter '{p.Name}' is updated twice ('{byMember[p].Update.Name}' and '{w.Name}'): give each parameter one optimizer update") { Field = w.Name };
            var states = new List<Node>();
            var moments = new List<Node>();
            var grads = new List<Node>();
            foreach (var input in w.Inputs.Skip(1))
            {
                if (input.Op is OpKind.AdamMoment or OpKind.SgdMomentum && input.Inputs[0].Op == OpKind.State
                    && !byMember.ContainsKey(input))
                {
                    moments.Add(input);
                    states.Add(input.Inputs[0]);
                    grads.Add(input.Inputs[1]);
                }
                else if (w.Op == OpKind.SgdUpdate && input.Shape == p.Shape)
                {
                    grads.Add(input);
                }
            }
            var group = new ParameterGroup(p, w, states, moments, grads);
            foreach (var m in group.Members) byMember[m] = group;
        }
        return byMember;
    }

    /// <summary>
    /// Nodes that produce gradients: walking back from each group's gradient inputs through cheap
    /// ops of the parameter's shape (accumulation, scaling, casts) to the heavy ops that make them.
    /// Their partial sums may be reduce-scattered (weight-update sharding).
    /// </summary>
    public static HashSet<Node> GradientProducers(IEnumerable<ParameterGroup> groups, Func<Node, bool> isHeavy)
    {
        var found = new HashSet<Node>();
        var stack = new Stack<Node>();
        foreach (var g in groups)
            foreach (var grad in g.Gradients) stack.Push(grad);
        var seen = new HashSet<Node>();
        while (stack.Count > 0)
        {
            var n = stack.Pop();
            if (!seen.Add(n) || n.IsLeaf) continue;
            if (isHeavy(n))
            {
                found.Add(n);
                continue;
            }
            foreach (var i in n.Inputs)
                if (i.Shape.Elements == n.Shape.Elements) stack.Push(i);
        }
        return found;
    }
}
