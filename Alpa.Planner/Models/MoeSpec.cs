namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// GShard mixture-of-experts language model: a GPT whose every second block (odd block index) has a
/// top-2 MoE MLP instead of a dense one. Layers as for <see cref="GptSpec"/>. Tokens are routed in
/// groups of <see cref="ExpertGroupSize"/> (S) with expert capacity C = 2·S / E.
/// </summary>
public sealed record MoeSpec : ModelSpec
{
    /// <summary>Number of transformer blocks L.</summary>
    public required int Layers { get; init; }
    /// <summary>Hidden size h.</summary>
    public required int Hidden { get; init; }
    /// <summary>Attention heads; must divide <see cref="Hidden"/>.</summary>
    public required int Heads { get; init; }
    /// <summary>Sequence length s.</summary>
    public required int SeqLen { get; init; }
    /// <summary>Vocabulary size V.</summary>
    public required int Vocab { get; init; }
    /// <summary>Experts E per MoE layer.</summary>
    public required int Experts { get; init; }
    /// <summary>
    /// Tokens per routing group S (the paper: 2048). When a (micro)batch has fewer tokens, or a
    /// number not divisible by S, the group is gcd(tokens, S).
    /// </summary>
    public int ExpertGroupSize { get; init; } = 2048;
    /// <summary>
    /// FFN hidden size over <see cref="Hidden"/>, for dense and expert MLPs alike (Alpa's MoE
    /// benchmark: 8).
    /// </summary>
    public int MlpFactor { get; init; } = 8;

    public override string Family => "moe";
    public override int LayerCount => Layers + 2;
    public override string LayerName(int layer) => TransformerLm.LayerName(layer, Layers);

    /// <summary>Whether block <paramref name="block"/> (0-based) has an MoE MLP: the odd ones.</summary>
    public static bool IsMoeBlock(int block) => block % 2 == 1;

    /// <summary>The routing group size for a (micro)batch of <paramref name="tokens"/> tokens.</summary>
    public long GroupSize(long tokens)
    {
        long a = tokens, b = ExpertGroupSize;
        if (a % b == 0) return b;
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    /// <summary>Expert capacity C = ⌈2·S / E⌉ for group size S (top-2 gating, capacity factor 1).</summary>
    public long Capacity(long groupSize) => Math.Max(1, (2 * groupSize + Experts - 1) / Experts);

    public override void Validate()
    {
        base.Validate();
        TransformerLm.Validate(Layers, Hidden, Heads, SeqLen, Vocab, MlpFactor);
        Positive(Experts, "experts");
        if (Experts < 2) throw SpecError("experts", $"top-2 gating needs at least 2 experts, got {Experts}");
        Positive(ExpertGroupSize, "expert_group_size");
    }

    protected override Graph BuildGraph(int batch) =>
        new TransformerLm(this, batch, Layers, Hidden, Heads, SeqLen, Vocab, (long)MlpFactor * Hidden, moe: this).Build();
}
