using Alpa.Kernels;
using Alpa.Kernels.Cuda;
using Alpa.Kernels.Cuda.Kernels;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;
using S = Alpa.Kernels.Cuda.Kernels.CudaSources;

namespace Alpa.Silo.Selftest;

/// <summary>
/// Maps each <see cref="OpKind"/> to its CUDA kernel or cuBLAS call (the CUDA twin of
/// <c>Execution/OpDispatch</c>): reads shapes and attributes off the node, passes tensors and sizes.
/// </summary>
public static class CudaOpDispatch
{
    /// <summary>Marks ops that run through cuBLAS in <see cref="Paths"/>.</summary>
    public const string Cublas = "cublas";

    /// <summary>
    /// The kernels (names in <see cref="CudaSources.KernelNames"/>) or <see cref="Cublas"/> each op
    /// runs; leaves are uploaded, a Reshape is a device copy (empty list).
    /// </summary>
    public static IReadOnlyDictionary<OpKind, string[]> Paths { get; } = new Dictionary<OpKind, string[]>
    {
        [OpKind.Parameter] = [], [OpKind.Input] = [], [OpKind.State] = ["fill"], [OpKind.Constant] = ["fill"],
        [OpKind.MatMul] = [Cublas],
        [OpKind.Add] = ["binary"], [OpKind.Sub] = ["binary"], [OpKind.Mul] = ["binary"], [OpKind.Div] = ["binary"],
        [OpKind.Scale] = ["unary"], [OpKind.Gelu] = ["unary"], [OpKind.Relu] = ["unary"], [OpKind.Tanh] = ["unary"],
        [OpKind.Exp] = ["unary"], [OpKind.Sqrt] = ["unary"], [OpKind.Cast] = ["unary"], [OpKind.CausalMask] = ["causal_mask"],
        [OpKind.Softmax] = ["softmax"], [OpKind.LayerNorm] = ["layer_norm"], [OpKind.BatchNorm] = ["batch_norm"],
        [OpKind.Embedding] = ["embedding"], [OpKind.CrossEntropy] = ["cross_entropy", "unary"],
        [OpKind.Reshape] = [], [OpKind.Transpose] = ["permute"], [OpKind.Slice] = ["slice"], [OpKind.Concat] = ["concat_part"],
        [OpKind.Broadcast] = ["binary"],
        [OpKind.ReduceSum] = ["reduce"], [OpKind.ReduceMean] = ["reduce"], [OpKind.ReduceMax] = ["reduce"],
        [OpKind.MoeGate] = ["moe_gate"], [OpKind.MoeDispatch] = ["moe_dispatch"], [OpKind.MoeCombine] = ["moe_combine"],
        [OpKind.Conv2d] = ["conv2d"], [OpKind.MaxPool] = ["pool"], [OpKind.AvgPool] = ["pool"],
        [OpKind.GeluGrad] = ["unary_grad"], [OpKind.ReluGrad] = ["unary_grad"], [OpKind.TanhGrad] = ["unary_grad"],
        [OpKind.SoftmaxGrad] = ["softmax_grad"], [OpKind.LayerNormGradInput] = ["layer_norm_grad_input"],
        [OpKind.LayerNormGradGamma] = ["row_stats", "layer_norm_grad_gamma"], [OpKind.BatchNormGradInput] = ["batch_norm_grad_input"],
        [OpKind.BatchNormGradGamma] = ["batch_norm_grad_gamma"], [OpKind.EmbeddingGrad] = ["embedding_grad", "unary"],
        [OpKind.CrossEntropyGrad] = ["cross_entropy_grad"], [OpKind.SliceGrad] = ["slice_grad"], [OpKind.ReduceMaxGrad] = ["reduce_max_grad"],
        [OpKind.MoeGateGrad] = ["moe_gate_grad"], [OpKind.MoeCombineGradWeights] = ["moe_combine_grad_weights"],
        [OpKind.Conv2dGradInput] = ["conv2d_grad_input"], [OpKind.Conv2dGradWeight] = ["conv2d_grad_weight"],
        [OpKind.MaxPoolGrad] = ["pool_grad"], [OpKind.AvgPoolGrad] = ["pool_grad"],
        [OpKind.ClipCoefficient] = ["clip_coefficient"], [OpKind.SgdMomentum] = ["sgd_momentum"], [OpKind.SgdUpdate] = ["sgd_update"],
        [OpKind.AdamMoment] = ["adam_moment"], [OpKind.AdamUpdate] = ["adam_update"],
    };

    /// <summary>Runs a non-leaf node: <paramref name="x"/> are its inputs' tensors, <paramref name="y"/> its output.</summary>
    public static void Run(Node node, Tensor[] x, Tensor y)
    {
        var a = node.Attrs;
        switch (node.Op)
        {
            case OpKind.Constant: CudaElementwise.Fill(y, (float)a.Value); break;
            case OpKind.MatMul: CudaLinear.MatMul(x[0], a.TransA, x[1], a.TransB, y); break;
            case OpKind.Add: CudaElementwise.Binary(S.BinaryAdd, x[0], x[1], y); break;
            case OpKind.Sub: CudaElementwise.Binary(S.BinarySub, x[0], x[1], y); break;
            case OpKind.Mul: CudaElementwise.Binary(S.BinaryMul, x[0], x[1], y); break;
            case OpKind.Div: CudaElementwise.Binary(S.BinaryDiv, x[0], x[1], y); break;
            case OpKind.Scale: CudaElementwise.Unary(S.UnaryScale, x[0], y, (float)a.Value); break;
            case OpKind.Gelu: CudaElementwise.Unary(S.UnaryGelu, x[0], y, 0f); break;
            case OpKind.Relu: CudaElementwise.Unary(S.UnaryRelu, x[0], y, 0f); break;
            case OpKind.Tanh: CudaElementwise.Unary(S.UnaryTanh, x[0], y, 0f); break;
            case OpKind.Exp: CudaElementwise.Unary(S.UnaryExp, x[0], y, 0f); break;
            case OpKind.Sqrt: CudaElementwise.Unary(S.UnarySqrt, x[0], y, 0f); break;
            case OpKind.Cast: CudaElementwise.Unary(S.UnaryCast, x[0], y, 0f); break;
            case OpKind.CausalMask: CudaElementwise.CausalMask(x[0], y, (int)node.Shape[-2], (int)node.Shape[-1], (float)a.Value); break;
            case OpKind.Softmax: CudaNormalization.Softmax(x[0], y, Rows(node), Last(node)); break;
            case OpKind.LayerNorm: CudaNormalization.LayerNorm(x[0], x[1], x[2], y, Rows(node), Last(node), (float)a.Epsilon); break;
            case OpKind.BatchNorm: CudaNormalization.BatchNorm(x[0], x[1], x[2], y, Rows(node), Last(node), (float)a.Epsilon); break;
            case OpKind.Embedding: CudaIndexing.Embedding(x[0], x[1], y, (int)x[0].Shape[0], (int)x[0].Shape[1]); break;
            case OpKind.CrossEntropy: CudaIndexing.CrossEntropy(x[0], x[1], y, (int)x[1].Elements, (int)x[0].Shape[^1]); break;
            case OpKind.Reshape: CudaLaunch(y).Copy(x[0], y); break;
            case OpKind.Transpose: CudaLayout.Transpose(x[0], a.Axes, y); break;
            case OpKind.Slice: Slice(node, x[0], y); break;
            case OpKind.Concat: Concat(node, x, y); break;
            case OpKind.Broadcast: CudaElementwise.BroadcastTo(x[0], y); break;
            case OpKind.ReduceSum: CudaReductions.Reduce(S.ReduceSum, x[0], Axes(node.Inputs[0], a), y); break;
            case OpKind.ReduceMean: CudaReductions.Reduce(S.ReduceMean, x[0], Axes(node.Inputs[0], a), y); break;
            case OpKind.ReduceMax: CudaReductions.Reduce(S.ReduceMax, x[0], Axes(node.Inputs[0], a), y); break;
            default: RunGradient(node, x, y); break;
        }
    }

    private static void RunGradient(Node node, Tensor[] x, Tensor y)
    {
        var a = node.Attrs;
        var eps = (float)a.Epsilon;
        switch (node.Op)
        {
            case OpKind.GeluGrad: CudaElementwise.UnaryGrad(S.GradGelu, x[0], x[1], y); break;
            case OpKind.ReluGrad: CudaElementwise.UnaryGrad(S.GradRelu, x[0], x[1], y); break;
            case OpKind.TanhGrad: CudaElementwise.UnaryGrad(S.GradTanh, x[0], x[1], y); break;
            case OpKind.SoftmaxGrad: CudaNormalization.SoftmaxGrad(x[0], x[1], y, Rows(node), Last(node)); break;
            case OpKind.LayerNormGradInput: CudaNormalization.LayerNormGradInput(x[0], x[1], x[2], y, Rows(node), Last(node), eps); break;
            case OpKind.LayerNormGradGamma:
                CudaNormalization.LayerNormGradGamma(x[0], x[1], y, (int)(x[0].Elements / x[0].Shape[^1]), (int)x[0].Shape[^1], eps);
                break;
            case OpKind.BatchNormGradInput: CudaNormalization.BatchNormGradInput(x[0], x[1], x[2], y, Rows(node), Last(node), eps); break;
            case OpKind.BatchNormGradGamma:
                CudaNormalization.BatchNormGradGamma(x[0], x[1], y, (int)(x[0].Elements / x[0].Shape[^1]), (int)x[0].Shape[^1], eps);
                break;
            case OpKind.EmbeddingGrad: CudaIndexing.EmbeddingGrad(x[0], x[1], y, (int)node.Shape[0], (int)node.Shape[1]); break;
            case OpKind.CrossEntropyGrad: CudaIndexing.CrossEntropyGrad(x[0], x[1], x[2], y, (int)x[1].Elements, (int)x[0].Shape[^1]); break;
            case OpKind.SliceGrad:
            {
                var (outer, size, inner) = LaunchGeometry.Around(node.Shape.AsSpan(), node.Shape.Axis(a.Axis));
                CudaLayout.SliceGrad(x[0], y, outer, size, inner, a.Start, a.End);
                break;
            }
            case OpKind.ReduceMaxGrad: CudaReductions.MaxGrad(x[0], Axes(node.Inputs[0], a), x[1], y); break;
            default: RunMoeConvOrOptimizer(node, x, y); break;
        }
    }

    private static void RunMoeConvOrOptimizer(Node node, Tensor[] x, Tensor y)
    {
        var a = node.Attrs;
        switch (node.Op)
        {
            case OpKind.MoeGate: CudaMoe.Gate(x[0], y, I(x[0], 0), I(x[0], 1), I(x[0], 2), a.Capacity); break;
            case OpKind.MoeGateGrad: CudaMoe.GateGrad(x[0], x[1], y, I(x[0], 0), I(x[0], 1), I(x[0], 2), a.Capacity); break;
            case OpKind.MoeDispatch: CudaMoe.Dispatch(x[0], x[1], y, I(x[1], 0), I(x[1], 1), I(x[1], 2), I(x[1], 3), I(x[0], 2), a.Mask); break;
            case OpKind.MoeCombine: CudaMoe.Combine(x[0], x[1], y, I(x[1], 0), I(x[1], 1), I(x[1], 2), I(x[1], 3), I(x[0], 3), a.Mask); break;
            case OpKind.MoeCombineGradWeights: CudaMoe.CombineGradWeights(x[0], x[1], y, I(x[0], 0), I(x[0], 1), I(x[1], 0), I(x[1], 2), I(x[0], 2)); break;
            case OpKind.Conv2d: CudaConvolution.Forward(x[0], x[1], y, Conv(x[0].Shape, x[1].Shape, a)); break;
            case OpKind.Conv2dGradInput: CudaConvolution.GradInput(x[0], x[1], y, Conv(y.Shape, x[1].Shape, a)); break;
            case OpKind.Conv2dGradWeight: CudaConvolution.GradWeight(x[0], x[1], y, Conv(x[0].Shape, y.Shape, a)); break;
            case OpKind.MaxPool: CudaConvolution.Pool(false, x[0], y, Pool(x[0].Shape, a)); break;
            case OpKind.AvgPool: CudaConvolution.Pool(true, x[0], y, Pool(x[0].Shape, a)); break;
            case OpKind.MaxPoolGrad: CudaConvolution.PoolGrad(false, x[0], x[1], y, Pool(x[0].Shape, a)); break;
            case OpKind.AvgPoolGrad: CudaConvolution.PoolGrad(true, x[0], x[0], y, Pool(y.Shape, a)); break;
            case OpKind.ClipCoefficient: CudaElementwise.ClipCoefficient(x[0], y, (float)a.Value); break;
            case OpKind.SgdMomentum: CudaElementwise.SgdMomentum(x[0], x[1], y, (float)a.Momentum); break;
            case OpKind.SgdUpdate: CudaElementwise.SgdUpdate(x[0], x[1], x[2], y, (float)a.WeightDecay); break;
            case OpKind.AdamMoment: CudaElementwise.AdamMoment(x[0], x[1], y, (float)a.Beta, a.Square); break;
            case OpKind.AdamUpdate:
                CudaElementwise.AdamUpdate(x[0], x[1], x[2], x[3], x[4], y, (float)a.Beta, (float)a.Beta2, (float)a.Epsilon, (float)a.WeightDecay);
                break;
            default:
                throw new ExecutionException($"node '{node.Name}': the CUDA backend has no kernel for {node.Op}") { Field = node.Name };
        }
    }

    private static CudaDevice CudaLaunch(Tensor t) => t.Device as CudaDevice ?? throw new KernelException($"{t} is not on a CUDA device");
    private static int I(Tensor t, int axis) => (int)t.Shape[axis];
    private static int Last(Node n) => n.Shape.Rank == 0 ? 1 : (int)n.Shape[-1];
    private static int Rows(Node n) => (int)(n.Shape.Elements / Math.Max(1, Last(n)));

    private static int[] Axes(Node input, OpAttrs a) =>
        a.Axes is null ? [.. Enumerable.Range(0, input.Shape.Rank)] : [.. a.Axes.Select(input.Shape.Axis)];

    private static void Slice(Node node, Tensor x, Tensor y)
    {
        var (outer, size, inner) = LaunchGeometry.Around(node.Inputs[0].Shape.AsSpan(), node.Inputs[0].Shape.Axis(node.Attrs.Axis));
        CudaLayout.Slice(x, y, outer, size, inner, node.Attrs.Start, node.Attrs.End);
    }

    private static void Concat(Node node, Tensor[] x, Tensor y)
    {
        var axis = node.Shape.Axis(node.Attrs.Axis);
        var (outer, total, inner) = LaunchGeometry.Around(node.Shape.AsSpan(), axis);
        long offset = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var part = node.Inputs[i].Shape[axis];
            CudaLayout.ConcatPart(x[i], y, outer, part, total, inner, offset);
            offset += part;
        }
    }

    private static ConvShape Conv(ReadOnlySpan<long> image, ReadOnlySpan<long> weight, OpAttrs a) =>
        ConvShape.Of((int)image[0], (int)image[1], (int)image[2], (int)image[3], (int)weight[0], (int)weight[1], (int)weight[3], a.Stride, a.Padding);

    private static ConvShape Pool(ReadOnlySpan<long> image, OpAttrs a) =>
        ConvShape.Of((int)image[0], (int)image[1], (int)image[2], (int)image[3], a.Kernel, a.Kernel, (int)image[3], a.Stride, a.Padding);
}
