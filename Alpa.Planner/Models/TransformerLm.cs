namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// Builds the GPT and MoE language models (they share everything but the MLP of MoE blocks).
/// Shapes: B = batch, s = sequence, h = hidden, V = vocabulary, F = FFN hidden, nh heads of size d.
/// </summary>
internal sealed class TransformerLm
{
    private readonly GraphBuilder _b = new();
    private readonly ModelSpec _spec;
    private readonly long _batch, _hidden, _heads, _seq, _vocab, _ffn;
    private readonly int _layers;
    private readonly MoeSpec? _moe;

    public TransformerLm(ModelSpec spec, int batch, int layers, int hidden, int heads, int seq, int vocab, long ffn, MoeSpec? moe)
    {
        (_spec, _batch, _layers, _hidden, _heads, _seq, _vocab, _ffn, _moe) = (spec, batch, layers, hidden, heads, seq, vocab, ffn, moe);
    }

    public static string LayerName(int layer, int blocks) =>
        layer == 0 ? "embed" : layer <= blocks ? $"block {layer - 1}" : "head";

    public static void Validate(int layers, int hidden, int heads, int seq, int vocab, int mlpFactor)
    {
        Check(layers, "layers");
        Check(hidden, "hidden");
        Check(heads, "heads");
        Check(seq, "seq_len");
        Check(vocab, "vocab");
        Check(mlpFactor, "mlp_factor");
        if (hidden % heads != 0)
            throw new ModelSpecException($"heads: {heads} heads do not divide hidden {hidden}") { Field = "heads" };
    }

    private static void Check(long value, string field)
    {
        if (value <= 0) throw new ModelSpecException($"{field}: expected a positive integer, got {value}") { Field = field };
    }

    public Graph Build()
    {
        var dt = _spec.DType;
        _b.Layer = 0;
        var tokens = _b.Input("tokens", new Shape(_batch, _seq), DType.I32);
        var wte = _b.Parameter("wte", new Shape(_vocab, _hidden), dt, InitKind.Normal, Nn.WeightStd);
        var wpe = _b.Parameter("wpe", new Shape(_seq, _hidden), dt, InitKind.Normal, 0.01);
        var x = _b.Add(_b.Embedding(wte, tokens, "embed.tokens"), wpe, "embed");

        for (var i = 0; i < _layers; i++)
        {
            _b.Layer = i + 1;
            using (_b.Scope($"layers.{i}")) x = Block(x, i);
        }

        _b.Layer = _layers + 1;
        var hf = Nn.LayerNorm(_b, x, "ln_f");
        var logits = _b.MatMul(hf, wte, transB: true, name: "lm_head");
        var labels = _b.Input("labels", new Shape(_batch, _seq), DType.I32);
        var loss = _b.CrossEntropy(logits, labels, "loss");
        return _b.Build([loss], loss);
    }

    /// <summary>Pre-LN block: x + Attn(LN1(x)), then + MLP(LN2(·)).</summary>
    private Node Block(Node x, int index)
    {
        var a = Attention(Nn.LayerNorm(_b, x, "ln1"));
        x = _b.Add(x, a, "attn_residual");
        var h = Nn.LayerNorm(_b, x, "ln2");
        var m = _moe is not null && MoeSpec.IsMoeBlock(index) ? MoeMlp(h, _moe) : DenseMlp(h);
        return _b.Add(x, m, "mlp_residual");
    }

    /// <summary>Causal multi-head self-attention with a fused qkv projection [h, 3h].</summary>
    private Node Attention(Node x)
    {
        using var _ = _b.Scope("attn");
        var d = _hidden / _heads;
        var qkv = Nn.Dense(_b, x, 3 * _hidden, "qkv");
        var (q, k, v) = (Nn.Heads(_b, qkv, 0, "q", _heads), Nn.Heads(_b, qkv, 1, "k", _heads), Nn.Heads(_b, qkv, 2, "v", _heads));
        var scores = _b.MatMul(q, k, transB: true, name: "scores");            // [B, nh, s, s]
        var scaled = _b.Scale(scores, 1.0 / Math.Sqrt(d), "scaled");
        var masked = _b.CausalMask(scaled, Nn.MaskFill(x.DType), "masked");
        var probs = _b.Softmax(masked, "probs");
        var ctx = _b.MatMul(probs, v, name: "context");                         // [B, nh, s, d]
        var merged = Nn.Transpose(_b, ctx, "context.merge", 0, 2, 1, 3);
        var flat = Nn.Reshape(_b, merged, "context.flat", _batch, _seq, _hidden);
        return Nn.Dense(_b, flat, _hidden, "out");
    }

    private Node DenseMlp(Node x)
    {
        using var _ = _b.Scope("mlp");
        var h = _b.Gelu(Nn.Dense(_b, x, _ffn, "fc1"), "gelu");
        return Nn.Dense(_b, h, _hidden, "fc2");
    }

    /// <summary>
    /// GShard top-2 MoE MLP: tokens in G groups of S, gate [h, E], dispatch to [E, G, C, h],
    /// expert FFNs as batched matmuls with [E, h, F] and [E, F, h], combine back to tokens.
    /// </summary>
    private Node MoeMlp(Node x, MoeSpec moe)
    {
        using var _ = _b.Scope("moe");
        var tokens = _batch * _seq;
        var s = moe.GroupSize(tokens);
        var g = tokens / s;
        var c = moe.Capacity(s);
        long e = moe.Experts;
        var dt = x.DType;

        var grouped = Nn.Reshape(_b, x, "group", g, s, _hidden);
        var logits = Nn.Dense(_b, grouped, e, "gate", bias: false);              // [G, S, E]
        var combine = _b.MoeGate(logits, checked((int)c), "route");             // [G, S, E, C]
        var dispatched = _b.MoeDispatch(grouped, combine, mask: true, name: "dispatch"); // [E, G, C, h]
        var expertIn = Nn.Reshape(_b, dispatched, "experts.in", e, g * c, _hidden);

        Node ExpertDense(Node input, long inF, long outF, string name)
        {
            var w = _b.Parameter($"{name}.weight", new Shape(e, inF, outF), dt, InitKind.Normal, Nn.WeightStd);
            var bias = _b.Parameter($"{name}.bias", new Shape(e, 1, outF), dt, InitKind.Zeros, 0);
            return _b.Add(_b.MatMul(input, w, name: name), bias, $"{name}.bias_add");
        }
        var h = _b.Gelu(ExpertDense(expertIn, _hidden, _ffn, "experts.fc1"), "experts.gelu");
        var y = ExpertDense(h, _ffn, _hidden, "experts.fc2");                   // [E, G·C, h]
        var expertOut = Nn.Reshape(_b, y, "experts.out", e, g, c, _hidden);
        var combined = _b.MoeCombine(expertOut, combine, mask: false, name: "combine"); // [G, S, h]
        return Nn.Reshape(_b, combined, "ungroup", _batch, _seq, _hidden);
    }
}
