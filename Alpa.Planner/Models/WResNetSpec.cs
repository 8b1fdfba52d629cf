namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// Wide-ResNet as in Alpa's benchmark (<c>alpa/model/wide_resnet.py</c>, a Flax ResNet-v1 with
/// bottleneck blocks). Stage i has <c>Stages[i]</c> blocks of f = BaseChannels·2^i filters: conv 1×1
/// to f → BN → relu → conv 3×3 to f·WidthFactor (stride 2 in the first block of stages after the
/// first) → BN → relu → conv 1×1 to 4f → BN, a projection (conv 1×1 + BN) on the shortcut when
/// shapes differ, relu after the residual add. Stem: conv 7×7 stride 2 → BN → relu → max-pool 3×3
/// stride 2; then global average pool and a dense classifier. Convolutions have no bias.
/// Layers: 0 = stem, 1 … N = the N bottleneck blocks in order (block k, named <c>layers.{k}</c>,
/// is layer k + 1), N + 1 = pooling, classifier and loss.
/// </summary>
public sealed record WResNetSpec : ModelSpec
{
    /// <summary>Blocks per stage: [3, 4, 6, 3] for 50 layers, [3, 4, 23, 3] for 101.</summary>
    public required IReadOnlyList<int> Stages { get; init; }
    /// <summary>Filters of the first stage (Alpa's <c>num_filters</c>).</summary>
    public required int BaseChannels { get; init; }
    /// <summary>Multiplier of the 3×3 convolution's output channels in every block.</summary>
    public required int WidthFactor { get; init; }
    /// <summary>Square image side in pixels.</summary>
    public required int ImageSize { get; init; }
    /// <summary>Classes of the classifier.</summary>
    public required int Classes { get; init; }
    /// <summary>Image channels (RGB: 3).</summary>
    public int Channels { get; init; } = 3;

    public override string Family => "wresnet";
    public int BlockCount => Stages.Sum();
    public override int LayerCount => BlockCount + 2;

    public override string LayerName(int layer) =>
        layer == 0 ? "stem" : layer <= BlockCount ? $"block {layer - 1}" : "head";

    /// <summary>Stage sizes of ResNet depths with bottleneck blocks (Alpa's <c>model_configs</c>).</summary>
    public static IReadOnlyList<int>? StagesForDepth(int depth) => depth switch
    {
        50 => [3, 4, 6, 3],
        101 => [3, 4, 23, 3],
        152 => [3, 8, 36, 3],
        200 => [3, 24, 36, 3],
        _ => null,
    };

    public override void Validate()
    {
        base.Validate();
        if (Stages.Count == 0) throw SpecError("stages", "expected at least one stage");
        for (var i = 0; i < Stages.Count; i++) Positive(Stages[i], $"stages[{i}]");
        Positive(BaseChannels, "base_channels");
        Positive(WidthFactor, "width_factor");
        Positive(ImageSize, "image_size");
        Positive(Classes, "classes");
        Positive(Channels, "channels");
        // Stem /4, then /2 per later stage: the image must not shrink below one pixel.
        var side = (long)ImageSize;
        side = (side + 1) / 2; side = (side + 1) / 2;
        for (var i = 1; i < Stages.Count; i++) side = (side + 1) / 2;
        if (ImageSize < 4 || side < 1) throw SpecError("image_size", $"{ImageSize} pixels is too small for {Stages.Count} stages");
    }

    protected override Graph BuildGraph(int batch)
    {
        var b = new GraphBuilder { Layer = 0 };
        var x = b.Input("images", new Shape(batch, ImageSize, ImageSize, Channels), DType);
        using (b.Scope("stem"))
        {
            x = Conv(b, x, BaseChannels, 7, 2, "conv");
            x = b.Relu(Nn.BatchNorm(b, x, "bn"), "relu");
            x = b.MaxPool(x, 3, 2, 1, "pool");
        }
        var block = 0;
        for (var stage = 0; stage < Stages.Count; stage++)
        {
            for (var j = 0; j < Stages[stage]; j++, block++)
            {
                b.Layer = block + 1;
                using var _ = b.Scope($"layers.{block}");
                x = Bottleneck(b, x, (long)BaseChannels << stage, stage > 0 && j == 0 ? 2 : 1);
            }
        }
        b.Layer = BlockCount + 1;
        var pooled = b.ReduceMean(x, [1, 2], name: "pool");
        var logits = Nn.Dense(b, pooled, Classes, "head");
        var labels = b.Input("labels", new Shape(batch), DType.I32);
        var loss = b.CrossEntropy(logits, labels, "loss");
        return b.Build([loss], loss);
    }

    private Node Bottleneck(GraphBuilder b, Node x, long filters, int stride)
    {
        var y = b.Relu(Nn.BatchNorm(b, Conv(b, x, filters, 1, 1, "conv1"), "bn1"), "relu1");
        y = b.Relu(Nn.BatchNorm(b, Conv(b, y, filters * WidthFactor, 3, stride, "conv2"), "bn2"), "relu2");
        y = Nn.BatchNorm(b, Conv(b, y, 4 * filters, 1, 1, "conv3"), "bn3", InitKind.Zeros);
        var residual = x;
        if (x.Shape != y.Shape)
            residual = Nn.BatchNorm(b, Conv(b, x, 4 * filters, 1, stride, "proj"), "proj_bn");
        return b.Relu(b.Add(residual, y, "residual"), "relu3");
    }

    /// <summary>Convolution with "SAME" padding (k / 2) and weight <c>{name}.weight</c> [k, k, Cin, Cout].</summary>
    private static Node Conv(GraphBuilder b, Node x, long outChannels, int k, int stride, string name)
    {
        var w = b.Parameter($"{name}.weight", new Shape(k, k, x.Shape[3], outChannels), x.DType, InitKind.Normal, Nn.WeightStd);
        return b.Conv2d(x, w, stride, k / 2, name);
    }
}
