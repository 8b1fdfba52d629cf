using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Kernels.Cpu.Kernels;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Execution;

/// <summary>Maps each <see cref="OpKind"/> to its CPU kernel: reads shapes and attributes off the node, passes spans and sizes.</summary>
internal static class OpDispatch
{
    public static void Run(Node node, Tensor[] x, Tensor y)
    {
        var a = node.Attrs;
        switch (node.Op)
        {
            case OpKind.Constant:
                if (y.Type.IsFloat()) y.Floats().Fill((float)a.Value);
                else y.Ints().Fill((int)a.Value);
                break;
            case OpKind.MatMul:
                Linear.MatMul(F(x[0]), x[0].Shape, a.TransA, F(x[1]), x[1].Shape, a.TransB, y.Floats());
                break;
            case OpKind.Add: Broadcasting.Binary(BinaryOp.Add, F(x[0]), x[0].Shape, F(x[1]), x[1].Shape, y.Floats()); break;
            case OpKind.Sub: Broadcasting.Binary(BinaryOp.Sub, F(x[0]), x[0].Shape, F(x[1]), x[1].Shape, y.Floats()); break;
            case OpKind.Mul: Broadcasting.Binary(BinaryOp.Mul, F(x[0]), x[0].Shape, F(x[1]), x[1].Shape, y.Floats()); break;
            case OpKind.Div: Broadcasting.Binary(BinaryOp.Div, F(x[0]), x[0].Shape, F(x[1]), x[1].Shape, y.Floats()); break;
            case OpKind.Scale: Elementwise.Scale(F(x[0]), (float)a.Value, y.Floats()); break;
            case OpKind.Gelu: Elementwise.Gelu(F(x[0]), y.Floats()); break;
            case OpKind.Relu: Elementwise.Relu(F(x[0]), y.Floats()); break;
            case OpKind.Tanh: Elementwise.Tanh(F(x[0]), y.Floats()); break;
            case OpKind.Exp: Elementwise.Exp(F(x[0]), y.Floats()); break;
            case OpKind.Sqrt: Elementwise.Sqrt(F(x[0]), y.Floats()); break;
            case OpKind.Cast: Cast(x[0], y); break;
            case OpKind.CausalMask:
            {
                var (q, k) = ((int)node.Shape[-2], (int)node.Shape[-1]);
                Elementwise.CausalMask(F(x[0]), y.Floats(), (int)(y.Elements / Math.Max(1L, (long)q * k)), q, k, (float)a.Value);
                break;
            }
            case OpKind.Softmax: Normalization.Softmax(F(x[0]), y.Floats(), Rows(node), Last(node)); break;
            case OpKind.LayerNorm: Normalization.LayerNorm(F(x[0]), F(x[1]), F(x[2]), y.Floats(), Rows(node), Last(node), (float)a.Epsilon); break;
            case OpKind.BatchNorm: Normalization.BatchNorm(F(x[0]), F(x[1]), F(x[2]), y.Floats(), Rows(node), Last(node), (float)a.Epsilon); break;
            case OpKind.Embedding:
                Indexing.Embedding(F(x[0]), I(x[1]), y.Floats(), (int)x[0].Shape[0], (int)x[0].Shape[1]);
                break;
            case OpKind.CrossEntropy:
                y.Floats()[0] = Indexing.CrossEntropy(F(x[0]), I(x[1]), (int)x[1].Elements, (int)x[0].Shape[^1]);
                break;
            case OpKind.Transpose:
                if (y.Type.IsFloat()) Layout.Transpose<float>(F(x[0]), x[0].Shape, a.Axes, y.Floats());
                else Layout.Transpose<int>(I(x[0]), x[0].Shape, a.Axes, y.Ints());
                break;
            case OpKind.Slice: Slice(node, x[0], y); break;
            case OpKind.Concat: Concat(node, x, y); break;
            case OpKind.Broadcast: Broadcasting.To(F(x[0]), x[0].Shape, y.Floats(), y.Shape); break;
            case OpKind.ReduceSum: Reductions.Reduce(ReduceOp.Sum, F(x[0]), x[0].Shape, Axes(node.Inputs[0], a), y.Floats()); break;
            case OpKind.ReduceMean: Reductions.Reduce(ReduceOp.Mean, F(x[0]), x[0].Shape, Axes(node.Inputs[0], a), y.Floats()); break;
            case OpKind.ReduceMax: Reductions.Reduce(ReduceOp.Max, F(x[0]), x[0].Shape, Axes(node.Inputs[0], a), y.Floats()); break;
            default: RunGradientOrUpdate(node, x, y); break;
        }
    }

    private static void RunGradientOrUpdate(Node node, Tensor[] x, Tensor y)
    {
        var a = node.Attrs;
        var eps = (float)a.Epsilon;
        switch (node.Op)
        {
            case OpKind.GeluGrad: Elementwise.GeluGrad(F(x[0]), F(x[1]), y.Floats()); break;
            case OpKind.ReluGrad: Elementwise.ReluGrad(F(x[0]), F(x[1]), y.Floats()); break;
            case OpKind.TanhGrad: Elementwise.TanhGrad(F(x[0]), F(x[1]), y.Floats()); break;
            case OpKind.SoftmaxGrad: Normalization.SoftmaxGrad(F(x[0]), F(x[1]), y.Floats(), Rows(node), Last(node)); break;
            case OpKind.LayerNormGradInput: Normalization.LayerNormGradInput(F(x[0]), F(x[1]), F(x[2]), y.Floats(), Rows(node), Last(node), eps); break;
            case OpKind.LayerNormGradGamma:
                Normalization.LayerNormGradGamma(F(x[0]), F(x[1]), y.Floats(), (int)(x[0].Elements / x[0].Shape[^1]), (int)x[0].Shape[^1], eps);
                break;
            case OpKind.BatchNormGradInput: Normalization.BatchNormGradInput(F(x[0]), F(x[1]), F(x[2]), y.Floats(), Rows(node), Last(node), eps); break;
            case OpKind.BatchNormGradGamma:
                Normalization.BatchNormGradGamma(F(x[0]), F(x[1]), y.Floats(), (int)(x[0].Elements / x[0].Shape[^1]), (int)x[0].Shape[^1], eps);
                break;
            case OpKind.EmbeddingGrad:
                Indexing.EmbeddingGrad(I(x[0]), F(x[1]), y.Floats(), (int)node.Shape[0], (int)node.Shape[1]);
                break;
            case OpKind.CrossEntropyGrad:
                Indexing.CrossEntropyGrad(F(x[0]), I(x[1]), F(x[2])[0], y.Floats(), (int)x[1].Elements, (int)x[0].Shape[^1]);
                break;
            case OpKind.SliceGrad:
            {
                var (outer, size, inner) = Around(node.Shape, node.Shape.Axis(a.Axis));
                Layout.SliceGrad(F(x[0]), y.Floats(), outer, size, inner, a.Start, a.End);
                break;
            }
            case OpKind.ReduceMaxGrad: Reductions.MaxGrad(F(x[0]), x[0].Shape, Axes(node.Inputs[0], a), F(x[1]), y.Floats()); break;
            default: RunMoeConvOrOptimizer(node, x, y); break;
        }
    }

    private static void RunMoeConvOrOptimizer(Node node, Tensor[] x, Tensor y)
    {
        var a = node.Attrs;
        switch (node.Op)
        {
            case OpKind.MoeGate:
            {
                var s = x[0].Shape;
                Moe.Gate(F(x[0]), y.Floats(), (int)s[0], (int)s[1], (int)s[2], a.Capacity);
                break;
            }
            case OpKind.MoeGateGrad:
            {
                var s = x[0].Shape;
                Moe.GateGrad(F(x[0]), F(x[1]), y.Floats(), (int)s[0], (int)s[1], (int)s[2], a.Capacity);
                break;
            }
            case OpKind.MoeDispatch:
            {
                var c = x[1].Shape;
                Moe.Dispatch(F(x[0]), F(x[1]), y.Floats(), (int)c[0], (int)c[1], (int)c[2], (int)c[3], (int)x[0].Shape[2], a.Mask);
                break;
            }
            case OpKind.MoeCombine:
            {
                var c = x[1].Shape;
                Moe.Combine(F(x[0]), F(x[1]), y.Floats(), (int)c[0], (int)c[1], (int)c[2], (int)c[3], (int)x[0].Shape[3], a.Mask);
                break;
            }
            case OpKind.MoeCombineGradWeights:
            {
                ReadOnlySpan<long> d = x[0].Shape, ys = x[1].Shape;
                Moe.CombineGradWeights(F(x[0]), F(x[1]), y.Floats(), (int)d[0], (int)d[1], (int)ys[0], (int)ys[2], (int)d[2]);
                break;
            }
            case OpKind.Conv2d: Convolution.Forward(F(x[0]), F(x[1]), y.Floats(), Conv(x[0].Shape, x[1].Shape, a)); break;
            case OpKind.Conv2dGradInput: Convolution.GradInput(F(x[0]), F(x[1]), y.Floats(), Conv(y.Shape, x[1].Shape, a)); break;
            case OpKind.Conv2dGradWeight: Convolution.GradWeight(F(x[0]), F(x[1]), y.Floats(), Conv(x[0].Shape, y.Shape, a)); break;
            case OpKind.MaxPool: Pooling.MaxPool(F(x[0]), y.Floats(), Pool(x[0].Shape, a)); break;
            case OpKind.AvgPool: Pooling.AvgPool(F(x[0]), y.Floats(), Pool(x[0].Shape, a)); break;
            case OpKind.MaxPoolGrad: Pooling.MaxPoolGrad(F(x[0]), F(x[1]), y.Floats(), Pool(x[0].Shape, a)); break;
            case OpKind.AvgPoolGrad: Pooling.AvgPoolGrad(F(x[0]), y.Floats(), Pool(y.Shape, a)); break;
            case OpKind.ClipCoefficient: y.Floats()[0] = Optimizers.ClipCoefficient(F(x[0])[0], (float)a.Value); break;
            case OpKind.SgdMomentum: Optimizers.SgdMomentum(F(x[0]), F(x[1]), y.Floats(), (float)a.Momentum); break;
            case OpKind.SgdUpdate: Optimizers.SgdUpdate(F(x[0]), F(x[1]), y.Floats(), F(x[2])[0], (float)a.WeightDecay); break;
            case OpKind.AdamMoment: Optimizers.AdamMoment(F(x[0]), F(x[1]), y.Floats(), (float)a.Beta, a.Square); break;
            case OpKind.AdamUpdate:
                Optimizers.AdamUpdate(F(x[0]), F(x[1]), F(x[2]), y.Floats(), F(x[3])[0], F(x[4])[0],
                                      (float)a.Beta, (float)a.Beta2, (float)a.Epsilon, (float)a.WeightDecay);
                break;
            default:
                throw new ExecutionException($"node '{node.Name}': the CPU executor has no kernel for {node.Op}") { Field = node.Name };
        }
    }

    private static ReadOnlySpan<float> F(Tensor t) => t.Floats();
    private static ReadOnlySpan<int> I(Tensor t) => t.Ints();
    private static int Last(Node n) => n.Shape.Rank == 0 ? 1 : (int)n.Shape[-1];
    private static int Rows(Node n) => (int)(n.Shape.Elements / Math.Max(1, Last(n)));

    private static int[] Axes(Node input, OpAttrs a) =>
        a.Axes is null ? [.. Enumerable.Range(0, input.Shape.Rank)] : [.. a.Axes.Select(input.Shape.Axis)];

    private static (long Outer, long Size, long Inner) Around(Shape s, int axis)
    {
        long outer = 1, inner = 1;
        for (var i = 0; i < axis; i++) outer *= s[i];
        for (var i = axis + 1; i < s.Rank; i++) inner *= s[i];
        return (outer, s[axis], inner);
    }

    private static void Slice(Node node, Tensor x, Tensor y)
    {
        var axis = node.Inputs[0].Shape.Axis(node.Attrs.Axis);
        var (outer, size, inner) = Around(node.Inputs[0].Shape, axis);
        if (y.Type.IsFloat()) Layout.Slice<float>(x.Floats(), y.Floats(), outer, size, inner, node.Attrs.Start, node.Attrs.End);
        else Layout.Slice<int>(x.Ints(), y.Ints(), outer, size, inner, node.Attrs.Start, node.Attrs.End);
    }

    private static void Concat(Node node, Tensor[] x, Tensor y)
    {
        var axis = node.Shape.Axis(node.Attrs.Axis);
        var (outer, total, inner) = Around(node.Shape, axis);
        long offset = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var part = node.Inputs[i].Shape[axis];
            if (y.Type.IsFloat()) Layout.ConcatPart<float>(x[i].Floats(), y.Floats(), outer, part, total, inner, offset);
            else Layout.ConcatPart<int>(x[i].Ints(), y.Ints(), outer, part, total, inner, offset);
            offset += part;
        }
    }

    private static void Cast(Tensor x, Tensor y)
    {
        if (x.Type.IsFloat() && y.Type.IsFloat()) Elementwise.RoundTo(y.Type, x.Floats(), y.Floats());
        else if (x.Type.IsFloat()) Elementwise.CastToInt(x.Floats(), y.Ints());
        else if (y.Type.IsFloat())
        {
            Elementwise.CastToFloat(x.Ints(), y.Floats());
            Elementwise.RoundTo(y.Type, y.Floats(), y.Floats());
        }
        else x.Ints().CopyTo(y.Ints());
    }

    /// <summary>Convolution geometry from the image shape [N,H,W,Cin] and the weight shape [KH,KW,Cin,Cout].</summary>
    private static ConvGeometry Conv(ReadOnlySpan<long> image, ReadOnlySpan<long> weight, OpAttrs a) =>
        new((int)image[0], (int)image[1], (int)image[2], (int)image[3], (int)weight[0], (int)weight[1], (int)weight[3], a.Stride, a.Padding);

    private static ConvGeometry Pool(ReadOnlySpan<long> image, OpAttrs a) =>
        new((int)image[0], (int)image[1], (int)image[2], (int)image[3], a.Kernel, a.Kernel, (int)image[3], a.Stride, a.Padding);
}
