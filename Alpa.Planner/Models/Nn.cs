namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>Building blocks shared by the model families: dense layers and layer norms with named parameters.</summary>
internal static class Nn
{
    /// <summary>Init std of weight matrices (GPT-2's 0.02).</summary>
    public const double WeightStd = 0.02;

    /// <summary>
    /// x [..., in] · <c>{name}.weight</c> [in, out] + <c>{name}.bias</c> [out]. The matmul node is
    /// named <c>{name}</c>, the bias add <c>{name}.bias_add</c>.
    /// </summary>
    public static Node Dense(GraphBuilder b, Node x, long outFeatures, string name, bool bias = true)
    {
        var w = b.Parameter($"{name}.weight", new Shape(x.Shape[-1], outFeatures), x.DType, InitKind.Normal, WeightStd);
        var y = b.MatMul(x, w, name: name);
        if (!bias) return y;
        var bv = b.Parameter($"{name}.bias", new Shape(outFeatures), x.DType, InitKind.Zeros, 0);
        return b.Add(y, bv, $"{name}.bias_add");
    }

    /// <summary>LayerNorm over the last axis with <c>{name}.gamma</c> (ones) and <c>{name}.beta</c> (zeros).</summary>
    public static Node LayerNorm(GraphBuilder b, Node x, string name)
    {
        var h = new Shape(x.Shape[-1]);
        var gamma = b.Parameter($"{name}.gamma", h, x.DType, InitKind.Ones, 0);
        var beta = b.Parameter($"{name}.beta", h, x.DType, InitKind.Zeros, 0);
        return b.LayerNorm(x, gamma, beta, 1e-5, name);
    }

    /// <summary>BatchNorm over channels with <c>{name}.gamma</c> and <c>{name}.beta</c>.</summary>
    public static Node BatchNorm(GraphBuilder b, Node x, string name, InitKind gammaInit = InitKind.Ones)
    {
        var c = new Shape(x.Shape[3]);
        var gamma = b.Parameter($"{name}.gamma", c, x.DType, gammaInit, 0);
        var beta = b.Parameter($"{name}.beta", c, x.DType, InitKind.Zeros, 0);
        return b.BatchNorm(x, gamma, beta, 1e-5, name);
    }

    /// <summary>
    /// Part <paramref name="k"/> (0 = q, 1 = k, 2 = v) of a fused qkv projection [B, s, 3h], split into
    /// heads: [B, nh, s, d]. Nodes are named <c>{name}</c>, <c>{name}.split</c>, <c>{name}.heads</c>.
    /// </summary>
    public static Node Heads(GraphBuilder b, Node qkv, int k, string name, long heads)
    {
        var (batch, seq, hidden) = (qkv.Shape[0], qkv.Shape[1], qkv.Shape[2] / 3);
        var part = b.Slice(qkv, 2, k * hidden, (k + 1) * hidden, name);
        var split = Reshape(b, part, $"{name}.split", batch, seq, heads, hidden / heads);
        return Transpose(b, split, $"{name}.heads", 0, 2, 1, 3);
    }

    public static Node Reshape(GraphBuilder b, Node x, string name, params long[] shape) =>
        b.Op(OpKind.Reshape, [x], new OpAttrs { Shape = shape }, name);

    public static Node Transpose(GraphBuilder b, Node x, string name, params int[] perm) =>
        b.Op(OpKind.Transpose, [x], new OpAttrs { Axes = perm }, name);

    /// <summary>The most negative value a dtype holds comfortably: the causal-mask fill.</summary>
    public static double MaskFill(DType dtype) => dtype == DType.F16 ? -1e4 : -1e9;
}
