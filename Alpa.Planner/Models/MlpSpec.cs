namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// A residual MLP for small runnable checks: input <c>x</c> [B, h]; per block
/// x + fc2(gelu(fc1(x))) with <c>layers.{i}.fc1</c> [h, ffn] and <c>layers.{i}.fc2</c> [ffn, h];
/// then a dense <c>head</c> [h, classes] and cross-entropy against <c>labels</c> [B].
/// Layers: block i is layer i (the input sits in layer 0), layer <see cref="Layers"/> is the head
/// and the loss.
/// </summary>
public sealed record MlpSpec : ModelSpec
{
    /// <summary>Residual blocks.</summary>
    public required int Layers { get; init; }
    /// <summary>Width h of the residual stream.</summary>
    public required int Hidden { get; init; }
    /// <summary>Inner width of each block.</summary>
    public required int Ffn { get; init; }
    /// <summary>Classes of the classifier head (default 10).</summary>
    public int Classes { get; init; } = 10;

    public override string Family => "mlp";
    public override int LayerCount => Layers + 1;
    public override string LayerName(int layer) => layer < Layers ? $"block {layer}" : "head";

    public override void Validate()
    {
        base.Validate();
        Positive(Layers, "layers");
        Positive(Hidden, "hidden");
        Positive(Ffn, "ffn");
        Positive(Classes, "classes");
    }

    protected override Graph BuildGraph(int batch)
    {
        var b = new GraphBuilder { Layer = 0 };
        var x = b.Input("x", new Shape(batch, Hidden), DType);
        for (var i = 0; i < Layers; i++)
        {
            b.Layer = i;
            using var _ = b.Scope($"layers.{i}");
            var h = b.Gelu(Nn.Dense(b, x, Ffn, "fc1"), "gelu");
            x = b.Add(x, Nn.Dense(b, h, Hidden, "fc2"), "residual");
        }
        b.Layer = Layers;
        var logits = Nn.Dense(b, x, Classes, "head");
        var labels = b.Input("labels", new Shape(batch), DType.I32);
        var loss = b.CrossEntropy(logits, labels, "loss");
        return b.Build([loss], loss);
    }
}
