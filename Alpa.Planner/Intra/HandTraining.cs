using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>
/// Small hand-written training graphs (forward, backward, Adam update) for the intra-op tests and
/// benchmark, built without the autodiff library: a table of backward rules for the few ops they
/// use. The backward pass is seeded by an input gradient of the output (as a pipeline stage is).
/// </summary>
public sealed class HandTraining
{
    private readonly GraphBuilder _b;
    private readonly Dictionary<Node, Node> _grads = [];

    public HandTraining(GraphBuilder builder) => _b = builder;

    /// <summary>
    /// Appends backward nodes from <paramref name="output"/> (seeded by an input <c>grad/output</c>) and an
    /// Adam update of every parameter reached; returns the graph with its updates.
    /// </summary>
    public Graph.Graph Finish(Node output, DType stateDType = DType.F32)
    {
        _b.Phase = Phase.Backward;
        _grads[output] = _b.Input("grad/output", output.Shape, output.DType);
        var nodes = _b.Nodes.Where(n => n.Id <= output.Id).ToList();
        for (var i = nodes.Count - 1; i >= 0; i--)
        {
            var n = nodes[i];
            if (n.IsLeaf || !_grads.TryGetValue(n, out var dy)) continue;
            Backward(n, dy);
        }
        _b.Phase = Phase.Update;
        var lr = _b.Input("lr", Shape.Scalar, DType.F32);
        var step = _b.Input("step", Shape.Scalar, DType.F32);
        var updates = new List<Update>();
        foreach (var p in nodes.Where(n => n.Op == OpKind.Parameter && _grads.ContainsKey(n)))
        {
            var g = _grads[p];
            var m = _b.State(p.Name + ".adam_m", p.Shape, stateDType);
            var v = _b.State(p.Name + ".adam_v", p.Shape, stateDType);
            var m2 = _b.Op(OpKind.AdamMoment, [m, g], new OpAttrs { Beta = 0.9 }, p.Name + ".adam_m.next");
            var v2 = _b.Op(OpKind.AdamMoment, [v, g], new OpAttrs { Beta = 0.999, Square = true }, p.Name + ".adam_v.next");
            var p2 = _b.Op(OpKind.AdamUpdate, [p, m2, v2, Cast(lr, p.DType), Cast(step, p.DType)],
                new OpAttrs { Beta = 0.9, Beta2 = 0.999, Epsilon = 1e-8 }, p.Name + ".next");
            updates.AddRange([new Update(p, p2), new Update(m, m2), new Update(v, v2)]);
        }
        return _b.Build([output], null, updates);
    }

    private Node Cast(Node scalar, DType to) => scalar.DType == to ? scalar : _b.Cast(scalar, to);

    private void Accumulate(Node x, Node g)
    {
        if (x.Op is OpKind.Input or OpKind.Constant) return;
        _grads[x] = _grads.TryGetValue(x, out var prev) ? _b.Add(prev, g, "grad/" + x.Name) : g;
    }

    private void Backward(Node n, Node dy)
    {
        var x = n.Inputs;
        switch (n.Op)
        {
            case OpKind.MatMul:
            {
                var (a, w) = (x[0], x[1]);
                if (n.Attrs.TransB)
                {
                    // y = a·wᵀ: da = dy·w, dw = dyᵀ·a
                    Accumulate(a, _b.MatMul(dy, w, name: "grad/" + a.Name + ".mm"));
                    Accumulate(w, _b.MatMul(dy, a, transA: true, name: "grad/" + w.Name + ".mm"));
                    break;
                }
                if (a.Op is not (OpKind.Input or OpKind.Constant))
                    Accumulate(a, _b.MatMul(dy, w, transB: true, name: "grad/" + n.Name + ".da"));
                if (w.Shape.Rank == 2 && a.Shape.Rank > 2)
                {
                    var rows = a.Shape.Elements / a.Shape[-1];
                    var a2 = _b.Reshape(a, new Shape(rows, a.Shape[-1]), "grad/" + n.Name + ".a2d");
                    var d2 = _b.Reshape(dy, new Shape(rows, dy.Shape[-1]), "grad/" + n.Name + ".dy2d");
                    Accumulate(w, _b.MatMul(a2, d2, transA: true, name: "grad/" + n.Name + ".dw"));
                }
                else
                {
                    Accumulate(w, _b.MatMul(a, dy, transA: true, name: "grad/" + n.Name + ".dw"));
                }
                break;
            }
            case OpKind.Add:
                foreach (var input in x)
                    Accumulate(input, input.Shape == n.Shape ? dy
                        : _b.ReduceSum(dy, [.. Enumerable.Range(0, n.Shape.Rank - input.Shape.Rank)], name: "grad/" + input.Name + ".sum"));
                break;
            case OpKind.Gelu:
                Accumulate(x[0], _b.Op(OpKind.GeluGrad, [x[0], dy], null, "grad/" + n.Name));
                break;
            case OpKind.Softmax:
                Accumulate(x[0], _b.Op(OpKind.SoftmaxGrad, [n, dy], null, "grad/" + n.Name));
                break;
            case OpKind.Scale:
                Accumulate(x[0], _b.Scale(dy, n.Attrs.Value, "grad/" + n.Name));
                break;
            case OpKind.CausalMask:
                Accumulate(x[0], _b.CausalMask(dy, 0, "grad/" + n.Name));
                break;
            case OpKind.LayerNorm:
                Accumulate(x[0], _b.Op(OpKind.LayerNormGradInput, [x[0], x[1], dy], null, "grad/" + n.Name));
                Accumulate(x[1], _b.Op(OpKind.LayerNormGradGamma, [x[0], dy], null, "grad/" + x[1].Name));
                Accumulate(x[2], _b.ReduceSum(dy, [.. Enumerable.Range(0, n.Shape.Rank - 1)], name: "grad/" + x[2].Name));
                break;
            case OpKind.Reshape:
                Accumulate(x[0], _b.Reshape(dy, x[0].Shape, "grad/" + n.Name));
                break;
            case OpKind.Transpose:
            {
                var perm = n.Attrs.Axes!;
                var inverse = new int[perm.Length];
                for (var i = 0; i < perm.Length; i++) inverse[perm[i]] = i;
                Accumulate(x[0], _b.Op(OpKind.Transpose, [dy], new OpAttrs { Axes = inverse }, "grad/" + n.Name));
                break;
            }
            case OpKind.Slice:
                Accumulate(x[0], _b.Op(OpKind.SliceGrad, [dy],
                    new OpAttrs { Axis = n.Attrs.Axis, Start = n.Attrs.Start, End = n.Attrs.End, Shape = x[0].Shape.ToArray() }, "grad/" + n.Name));
                break;
            default:
                throw new IntraOpException($"HandTraining has no backward rule for {n.Op} ('{n.Name}')") { Field = n.Name };
        }
    }
}
