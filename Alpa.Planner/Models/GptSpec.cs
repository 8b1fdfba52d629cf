namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// GPT-style decoder-only language model (GPT-3 family, pre-LN). Layers: 0 = token and position
/// embeddings, 1 … <see cref="Layers"/> = the transformer blocks (block <c>i</c>, named
/// <c>layers.{i}</c>, is layer <c>i + 1</c>), <see cref="Layers"/> + 1 = final LayerNorm, LM head
/// (tied to <c>wte</c>) and the cross-entropy loss.
/// </summary>
public sealed record GptSpec : ModelSpec
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
    /// <summary>MLP hidden size over <see cref="Hidden"/> (GPT: 4).</summary>
    public int MlpFactor { get; init; } = 4;

    public override string Family => "gpt";
    public override int LayerCount => Layers + 2;
    public override string LayerName(int layer) => TransformerLm.LayerName(layer, Layers);

    public override void Validate()
    {
        base.Validate();
        TransformerLm.Validate(Layers, Hidden, Heads, SeqLen, Vocab, MlpFactor);
    }

    protected override Graph BuildGraph(int batch) =>
        new TransformerLm(this, batch, Layers, Hidden, Heads, SeqLen, Vocab, (long)MlpFactor * Hidden, moe: null).Build();
}
