using Alpa.Planner.Graph;

namespace Alpa.Tests.Autodiff;

/// <summary>
/// A GPT-style decoder written directly with <see cref="GraphBuilder"/> for these tests
/// (pre-LayerNorm blocks: causal multi-head attention and a GELU MLP), one layer index per block.
/// </summary>
internal static class TinyTransformer
{
    public static Graph Build(int layers, long batch, long seq, long hidden, long heads, long vocab, DType dtype = DType.F32)
    {
        var b = new GraphBuilder();
        var ids = b.Input("ids", new Shape(batch, seq), DType.I32);
        var labels = b.Input("labels", new Shape(batch, seq), DType.I32);
        var table = b.Parameter("embed.table", new Shape(vocab, hidden), dtype);
        var x = b.Embedding(table, ids, "embed");
        for (var l = 0; l < layers; l++)
        {
            b.Layer = l;
            using (b.Scope($"layers.{l}")) x = Block(b, x, seq, hidden, heads, dtype);
        }
        b.Layer = layers;
        var lnf = b.LayerNorm(x, b.Parameter("lnf.gamma", new Shape(hidden), dtype, InitKind.Ones), b.Parameter("lnf.beta", new Shape(hidden), dtype, InitKind.Zeros), name: "lnf");
        var logits = b.MatMul(lnf, table, transB: true, name: "logits");
        var loss = b.CrossEntropy(logits, labels, "loss");
        return b.Build([logits], loss);
    }

    private static Node Block(GraphBuilder b, Node x, long seq, long hidden, long heads, DType dtype)
    {
        var batch = x.Shape[0];
        var dh = hidden / heads;
        Node Dense(Node input, long outDim, string name, bool bias = true)
        {
            var w = b.Parameter(name + ".weight", new Shape(input.Shape[-1], outDim), dtype);
            var y = b.MatMul(input, w, name: name);
            return bias ? b.Add(y, b.Parameter(name + ".bias", new Shape(outDim), dtype, InitKind.Zeros), name + ".add") : y;
        }
        Node Heads(Node t, string name) =>
            b.Op(OpKind.Transpose, [b.Reshape(t, new Shape(batch, seq, heads, dh), name + ".split")], new OpAttrs { Axes = [0, 2, 1, 3] }, name + ".heads");
        Node Ln(Node t, string name) => b.LayerNorm(t,
            b.Parameter(name + ".gamma", new Shape(hidden), dtype, InitKind.Ones),
            b.Parameter(name + ".beta", new Shape(hidden), dtype, InitKind.Zeros), name: name);

        var h = Ln(x, "ln1");
        var q = Heads(Dense(h, hidden, "attn.q"), "q");
        // No key bias: softmax is invariant to it, its gradient is exactly zero.
        var k = Heads(Dense(h, hidden, "attn.k", bias: false), "k");
        var v = Heads(Dense(h, hidden, "attn.v"), "v");
        var scores = b.Scale(b.MatMul(q, k, transB: true, name: "attn.scores"), 1.0 / Math.Sqrt(dh), "attn.scaled");
        var probs = b.Softmax(b.CausalMask(scores, -1e9, "attn.masked"), "attn.probs");
        var ctx = b.Op(OpKind.Transpose, [b.MatMul(probs, v, name: "attn.ctx")], new OpAttrs { Axes = [0, 2, 1, 3] }, "attn.merge");
        var attn = Dense(b.Reshape(ctx, new Shape(batch, seq, hidden), "attn.flat"), hidden, "attn.out");
        x = b.Add(x, attn, "residual1");
        var m = Dense(b.Gelu(Dense(Ln(x, "ln2"), 4 * hidden, "mlp.fc1"), "mlp.gelu"), hidden, "mlp.fc2");
        return b.Add(x, m, "residual2");
    }
}
