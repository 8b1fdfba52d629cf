using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>Training graphs used by the intra-op tests and <c>alpa bench intra</c>.</summary>
public static class BenchGraphs
{
    /// <summary>A 2-layer MLP x·W1 → GELU → ·W2 on <paramref name="batch"/> rows, with backward and Adam.</summary>
    public static Graph.Graph Mlp(long batch, long hidden, long ffn, DType dtype = DType.F32)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(batch, hidden), dtype);
        var w1 = b.Parameter("mlp.fc1.weight", new Shape(hidden, ffn), dtype);
        var w2 = b.Parameter("mlp.fc2.weight", new Shape(ffn, hidden), dtype);
        var h = b.MatMul(x, w1, name: "mlp.fc1");
        var a = b.Gelu(h, "mlp.gelu");
        var y = b.MatMul(a, w2, name: "mlp.fc2");
        return new HandTraining(b).Finish(y);
    }

    /// <summary>
    /// <paramref name="layers"/> GPT transformer layers (pre-LayerNorm, q/k/v projections, causal attention,
    /// 4h MLP) on a [batch, seq, hidden] activation, with backward and Adam (f32 moments): a
    /// pipeline-stage slice, its backward seeded by the output gradient.
    /// </summary>
    public static Graph.Graph GptSlice(int layers, long batch, long seq, long hidden, long heads, DType dtype = DType.F16)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", new Shape(batch, seq, hidden), dtype);
        for (var l = 0; l < layers; l++)
        {
            b.Layer = l;
            using (b.Scope($"layers.{l}")) x = GptLayer(b, x, heads);
        }
        b.Layer = -1;
        return new HandTraining(b).Finish(x);
    }

    private static Node GptLayer(GraphBuilder b, Node x, long heads)
    {
        var (batch, seq, h) = (x.Shape[0], x.Shape[1], x.Shape[2]);
        var d = h / heads;
        var dt = x.DType;
        Node Linear(Node input, long outDim, string name)
        {
            var w = b.Parameter(name + ".weight", new Shape(input.Shape[-1], outDim), dt);
            var bias = b.Parameter(name + ".bias", new Shape(outDim), dt, InitKind.Zeros);
            return b.Add(b.MatMul(input, w, name: name), bias, name + ".add_bias");
        }
        Node Norm(Node input, string name) => b.LayerNorm(input,
            b.Parameter(name + ".gamma", new Shape(h), dt, InitKind.Ones), b.Parameter(name + ".beta", new Shape(h), dt, InitKind.Zeros), name: name);
        Node Heads(Node input, string name) =>
            b.Transpose(b.Reshape(Linear(input, h, name), new Shape(batch, seq, heads, d), name + ".split"), 0, 2, 1, 3);

        var ln1 = Norm(x, "ln1");
        var (q, k, v) = (Heads(ln1, "attn.q"), Heads(ln1, "attn.k"), Heads(ln1, "attn.v"));
        var scores = b.CausalMask(b.Scale(b.MatMul(q, k, transB: true, name: "attn.scores"), 1.0 / Math.Sqrt(d), "attn.scale"), name: "attn.mask");
        var ctx = b.MatMul(b.Softmax(scores, "attn.softmax"), v, name: "attn.context");
        var merged = b.Reshape(b.Transpose(ctx, 0, 2, 1, 3), new Shape(batch, seq, h), "attn.merge");
        var x2 = b.Add(x, Linear(merged, h, "attn.out"), "attn.residual");
        var ff = Linear(b.Gelu(Linear(Norm(x2, "ln2"), 4 * h, "mlp.fc1"), "mlp.gelu"), h, "mlp.fc2");
        return b.Add(x2, ff, "mlp.residual");
    }
}
