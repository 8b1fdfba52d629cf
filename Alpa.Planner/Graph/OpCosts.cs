namespace Alpa.Planner.Graph;

/// <summary>
/// FLOPs and memory traffic of one node, from shapes alone. Matmul-class ops count 2 FLOPs per
/// multiply-add (the Megatron convention); element-wise ops count a few FLOPs per element so that
/// they are never free, but they stay small next to the matmuls the paper's formulas count.
/// </summary>
public static class OpCosts
{
    /// <summary>Ops whose time is bounded by arithmetic (matmul, convolution, MoE einsums).</summary>
    public static bool IsMatmulClass(OpKind op) => op is OpKind.MatMul or OpKind.Conv2d or OpKind.Conv2dGradInput
        or OpKind.Conv2dGradWeight or OpKind.MoeDispatch or OpKind.MoeCombine or OpKind.MoeCombineGradWeights;

    public static double Flops(Node n)
    {
        var outN = (double)n.Shape.Elements;
        double InN(int i) => n.Inputs[i].Shape.Elements;
        switch (n.Op)
        {
            case OpKind.MatMul:
            {
                var a = n.Inputs[0].Shape;
                var k = n.Attrs.TransA ? a[-2] : a[-1];
                return 2.0 * outN * k;
            }
            case OpKind.Conv2d:
            {
                var w = n.Inputs[1].Shape;
                return 2.0 * outN * w[0] * w[1] * w[2];
            }
            case OpKind.Conv2dGradInput:
            {
                // dx = dy ⋆ wᵀ: same multiply-adds as the forward convolution.
                var w = n.Inputs[1].Shape;
                return 2.0 * InN(0) * w[0] * w[1] * w[2];
            }
            case OpKind.Conv2dGradWeight:
            {
                var dy = n.Inputs[1].Shape;
                var w = n.Shape;
                return 2.0 * dy.Elements * w[0] * w[1] * w[2];
            }
            case OpKind.MoeDispatch:
            {
                // einsum GSEC,GSM->EGCM
                var c = n.Inputs[1].Shape;
                return 2.0 * c.Elements * n.Inputs[0].Shape[2];
            }
            case OpKind.MoeCombine:
                return 2.0 * n.Inputs[1].Shape.Elements * n.Inputs[0].Shape[3];
            case OpKind.MoeCombineGradWeights:
                return 2.0 * outN * n.Inputs[0].Shape[2];
            case OpKind.MoeGate or OpKind.MoeGateGrad:
                return 10.0 * InN(0) + outN;
            case OpKind.Add or OpKind.Sub or OpKind.Mul or OpKind.Div or OpKind.Scale or OpKind.Relu
                or OpKind.ReluGrad or OpKind.CausalMask or OpKind.SgdMomentum:
                return outN;
            case OpKind.Exp or OpKind.Sqrt or OpKind.Tanh or OpKind.TanhGrad:
                return 4.0 * outN;
            case OpKind.Gelu or OpKind.GeluGrad:
                return 8.0 * outN;
            case OpKind.Softmax or OpKind.SoftmaxGrad:
                return 5.0 * outN;
            case OpKind.LayerNorm or OpKind.BatchNorm or OpKind.LayerNormGradInput or OpKind.BatchNormGradInput:
                return 8.0 * outN;
            case OpKind.LayerNormGradGamma or OpKind.BatchNormGradGamma:
                return 4.0 * InN(0);
            case OpKind.CrossEntropy or OpKind.CrossEntropyGrad:
                return 5.0 * InN(0);
            case OpKind.ReduceSum or OpKind.ReduceMean or OpKind.ReduceMax or OpKind.ReduceMaxGrad:
                return InN(0);
            case OpKind.MaxPool or OpKind.AvgPool:
                return outN * n.Attrs.Kernel * n.Attrs.Kernel;
            case OpKind.MaxPoolGrad or OpKind.AvgPoolGrad:
                return InN(0) * Math.Max(1, n.Attrs.Kernel * n.Attrs.Kernel);
            case OpKind.EmbeddingGrad:
                return InN(1);
            case OpKind.SgdUpdate:
                return 3.0 * outN;
            case OpKind.AdamMoment:
                return 3.0 * outN;
            case OpKind.AdamUpdate:
                return 10.0 * outN;
            case OpKind.ClipCoefficient:
                return 4.0;
            default:
                // Leaves, views and data movement (reshape, transpose, slice, concat, broadcast,
                // cast, embedding lookup) do no arithmetic.
                return 0.0;
        }
    }

    public static double Bytes(Node n)
    {
        if (n.IsLeaf || n.Op == OpKind.Reshape) return 0.0;
        double total = n.OutputBytes;
        foreach (var i in n.Inputs) total += i.OutputBytes;
        if (n.Op == OpKind.Embedding)
        {
            // A gather reads only the rows it fetches.
            total = 2.0 * n.OutputBytes + n.Inputs[1].OutputBytes;
        }
        return total;
    }
}
