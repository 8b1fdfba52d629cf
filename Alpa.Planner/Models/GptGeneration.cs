namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>Shape of a generation program: how many sequences run at once and how many new tokens each brings per step.</summary>
public sealed record GenerationShape
{
    /// <summary>Batch slots B: sequences that run together (free slots compute and are ignored).</summary>
    public required int Slots { get; init; }
    /// <summary>New tokens per slot per step T: 1 for decode, the prompt chunk for prefill.</summary>
    public required int Chunk { get; init; }
    /// <summary>First model layer of the program (0 = embeddings).</summary>
    public int FirstLayer { get; init; }
    /// <summary>Last model layer (inclusive); null = the head (<see cref="GptSpec.Layers"/> + 1).</summary>
    public int? LastLayer { get; init; }
}

/// <summary>
/// Forward-only generation programs of a <see cref="GptSpec"/> in the same IR as training, with a
/// key/value cache per layer. Parameters carry the training graph's names, so trained weights load
/// by name. Each block keeps two <see cref="OpKind.State"/> caches
/// <c>layers.i.attn.k_cache</c> / <c>v_cache</c> of shape [B, nh, M, d] (M = seq_len); the step
/// writes its new keys and values and returns the updated cache as a graph update:
/// <code>cache' = cache · keep + write × k_new</code>
/// where <c>write</c> [B, 1, M, T] is a one-hot scatter of the T new tokens to cache rows and
/// <c>keep</c> [B, 1, M, 1] is 1 for rows not written. Attention then reads the whole cache with an
/// additive <c>mask</c> [B, 1, T, M] (0 = visible, −1e9 = hidden) that the runtime builds from each
/// slot's length, so causal prefill (T &gt; 1) and decode (T = 1) are the same program with
/// different T. Every op is an existing IR op: heads split by the intra-op pass splits the caches
/// with them. Inputs: <c>tokens</c>, <c>positions</c> (i32 [B, T], first program only),
/// <c>hidden</c> (f32 [B, T, h], later pipeline stages), <c>write</c>, <c>keep</c>, <c>mask</c>.
/// Output: <c>logits</c> [B, T, V] from the head's program, else <c>hidden_out</c> [B, T, h].
/// </summary>
public static class GptGeneration
{
    /// <summary>Name of the key cache state of block <paramref name="block"/>.</summary>
    public static string KeyCache(int block) => $"layers.{block}.attn.k_cache";
    /// <summary>Name of the value cache state of block <paramref name="block"/>.</summary>
    public static string ValueCache(int block) => $"layers.{block}.attn.v_cache";

    /// <summary>Builds the program for the layers and shape in <paramref name="shape"/>.</summary>
    public static Graph Build(GptSpec spec, GenerationShape shape)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(shape);
        spec.Validate();
        var last = shape.LastLayer ?? spec.Layers + 1;
        if (shape.Slots <= 0 || shape.Chunk <= 0 || shape.Chunk > spec.SeqLen)
            throw new ModelSpecException($"generation shape: slots must be ≥ 1 and chunk in 1…{spec.SeqLen}, got {shape.Slots} and {shape.Chunk}") { Field = "chunk" };
        if (shape.FirstLayer < 0 || last > spec.Layers + 1 || shape.FirstLayer > last)
            throw new ModelSpecException($"generation layers: expected 0 ≤ first ≤ last ≤ {spec.Layers + 1}, got {shape.FirstLayer}…{last}") { Field = "layers" };
        return new Builder(spec, shape.Slots, shape.Chunk).Build(shape.FirstLayer, last);
    }

    private sealed class Builder(GptSpec spec, int slots, int chunk)
    {
        private readonly GraphBuilder _b = new();
        private readonly List<Update> _updates = [];
        private readonly long _h = spec.Hidden, _nh = spec.Heads, _m = spec.SeqLen;
        private Node? _write, _keep, _mask;

        public Graph Build(int first, int last)
        {
            var dt = spec.DType;
            Node x;
            if (first == 0)
            {
                _b.Layer = 0;
                var tokens = _b.Input("tokens", new Shape(slots, chunk), DType.I32);
                var positions = _b.Input("positions", new Shape(slots, chunk), DType.I32);
                var wte0 = _b.Parameter("wte", new Shape(spec.Vocab, _h), dt, InitKind.Normal, Nn.WeightStd);
                var wpe = _b.Parameter("wpe", new Shape(_m, _h), dt, InitKind.Normal, 0.01);
                x = _b.Add(_b.Embedding(wte0, tokens, "embed.tokens"), _b.Embedding(wpe, positions, "embed.positions"), "embed");
            }
            else x = _b.Input("hidden", new Shape(slots, chunk, _h), dt);

            if (first <= spec.Layers && last >= 1) Control();
            for (var layer = Math.Max(1, first); layer <= Math.Min(last, spec.Layers); layer++)
            {
                _b.Layer = layer;
                using (_b.Scope($"layers.{layer - 1}")) x = Block(x);
            }
            if (last <= spec.Layers) return _b.Build([Named(x, "hidden_out")], null, _updates);

            _b.Layer = spec.Layers + 1;
            var hf = Nn.LayerNorm(_b, x, "ln_f");
            var wte = first == 0 ? _b.Nodes.First(n => n.Name == "wte") : _b.Parameter("wte", new Shape(spec.Vocab, _h), dt, InitKind.Normal, Nn.WeightStd);
            var logits = _b.MatMul(hf, wte, transB: true, name: "logits");
            return _b.Build([logits], null, _updates);
        }

        private Node Named(Node x, string name) => _b.Reshape(x, x.Shape, name);

        private Node Block(Node x)
        {
            var a = Attention(Nn.LayerNorm(_b, x, "ln1"));
            x = _b.Add(x, a, "attn_residual");
            var h = Nn.LayerNorm(_b, x, "ln2");
            Node mlp;
            using (_b.Scope("mlp")) mlp = Nn.Dense(_b, _b.Gelu(Nn.Dense(_b, h, (long)spec.MlpFactor * _h, "fc1"), "gelu"), _h, "fc2");
            return _b.Add(x, mlp, "mlp_residual");
        }

        private void Control()
        {
            _write = _b.Input("write", new Shape(slots, 1, _m, chunk), spec.DType);
            _keep = _b.Input("keep", new Shape(slots, 1, _m, 1), spec.DType);
            _mask = _b.Input("mask", new Shape(slots, 1, chunk, _m), spec.DType);
        }

        private Node Attention(Node x)
        {
            var (write, keep, mask) = (_write!, _keep!, _mask!);
            using var _ = _b.Scope("attn");
            var d = _h / _nh;
            var qkv = Nn.Dense(_b, x, 3 * _h, "qkv");
            var (q, k, v) = (Nn.Heads(_b, qkv, 0, "q", _nh), Nn.Heads(_b, qkv, 1, "k", _nh), Nn.Heads(_b, qkv, 2, "v", _nh));   // [B, nh, T, d]
            var scatter = _b.Broadcast(write, new Shape(slots, _nh, _m, chunk), "write.heads");
            Node Cache(Node fresh, string name)
            {
                var state = _b.State($"{name}_cache", new Shape(slots, _nh, _m, d), spec.DType);
                var written = _b.MatMul(scatter, fresh, name: $"{name}_write");                  // [B, nh, M, d]
                var updated = _b.Add(_b.Mul(state, keep, $"{name}_keep"), written, $"{name}_cache_next");
                _updates.Add(new Update(state, updated));
                return updated;
            }
            var (kc, vc) = (Cache(k, "k"), Cache(v, "v"));
            var scores = _b.MatMul(q, kc, transB: true, name: "scores");                     // [B, nh, T, M]
            var scaled = _b.Scale(scores, 1.0 / Math.Sqrt(d), "scaled");
            var probs = _b.Softmax(_b.Add(scaled, mask, "masked"), "probs");
            var ctx = _b.MatMul(probs, vc, name: "context");                                  // [B, nh, T, d]
            var merged = Nn.Transpose(_b, ctx, "context.merge", 0, 2, 1, 3);
            var flat = Nn.Reshape(_b, merged, "context.flat", slots, chunk, _h);
            return Nn.Dense(_b, flat, _h, "out");
        }
    }
}
