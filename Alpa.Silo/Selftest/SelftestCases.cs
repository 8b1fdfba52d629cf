using Alpa.Kernels;
using Alpa.Kernels.Cuda;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Selftest;

/// <summary>Storage precision of a self-test case's float tensors.</summary>
public enum SelftestPrecision
{
    /// <summary>f32 inputs and outputs: relative error ≤ 1e-5 against float64.</summary>
    F32,
    /// <summary>bf16 inputs (values exactly representable) and outputs: relative error ≤ 1e-2.</summary>
    BF16,
}

/// <summary>One op kind as a single-node graph with random inputs.</summary>
/// <param name="Name">Stable id, e.g. <c>Softmax/f32</c>.</param>
/// <param name="Op">The op under test.</param>
/// <param name="Precision">Precision of its float tensors.</param>
/// <param name="Graph">The graph: the op node plus its leaves.</param>
/// <param name="Node">The op node (the graph's output).</param>
/// <param name="Inputs">Values of every Input leaf.</param>
public sealed record SelftestCase(string Name, OpKind Op, SelftestPrecision Precision, Graph Graph, Node Node, IReadOnlyDictionary<string, HostTensor> Inputs)
{
    /// <summary>
    /// Largest relative norm error ‖actual − reference‖ / ‖reference‖ accepted: 1e-5 for f32, 1e-2
    /// when the inputs or the output are half types (a Cast to bf16 rounds by design).
    /// </summary>
    public double Tolerance => Precision == SelftestPrecision.F32 && Node.DType is not (DType.BF16 or DType.F16) ? 1e-5 : 1e-2;
}

/// <summary>
/// The kernel test cases of <c>alpa selftest</c>: every <see cref="OpKind"/> in f32, and every
/// float compute op again with bf16 storage. xunit runs the same cases (Alpa.Tests/Selftest).
/// </summary>
public static class SelftestCases
{
    /// <summary>Op kinds without a bf16 variant: leaves, Cast (its f32 case already casts to bf16) and Reshape (a copy).</summary>
    public static IReadOnlySet<OpKind> F32Only { get; } = new HashSet<OpKind>
    {
        OpKind.Parameter, OpKind.Input, OpKind.Constant, OpKind.State, OpKind.Cast, OpKind.Reshape,
    };

    /// <summary>Names of every case, in a stable order.</summary>
    public static IEnumerable<(OpKind Op, SelftestPrecision Precision)> All() =>
        Enum.GetValues<OpKind>().SelectMany(op => F32Only.Contains(op)
            ? new[] { (op, SelftestPrecision.F32) }
            : new[] { (op, SelftestPrecision.F32), (op, SelftestPrecision.BF16) });

    public static string NameOf(OpKind op, SelftestPrecision precision) => $"{op}/{(precision == SelftestPrecision.F32 ? "f32" : "bf16")}";

    public static SelftestCase Build(OpKind op, SelftestPrecision precision, int seed = 5)
    {
        var b = new GraphBuilder();
        var rng = new Random(seed);
        var inputs = new Dictionary<string, HostTensor>();
        var dtype = precision == SelftestPrecision.F32 ? DType.F32 : DType.BF16;
        Node F(string name, params long[] shape) => Input(b, rng, inputs, name, shape, dtype, 0, false);
        Node Pos(string name, params long[] shape) => Input(b, rng, inputs, name, shape, dtype, 0, true);
        Node Ids(string name, int max, params long[] shape) => Input(b, rng, inputs, name, shape, DType.I32, max, false);
        Node O(OpKind k, Node[] xs, OpAttrs? a = null) => b.Op(k, xs, a, "out");
        var node = op switch
        {
            OpKind.Parameter => b.Parameter("out", new Shape(3, 4), std: 0.1),
            OpKind.Input => F("out", 3, 4),
            OpKind.Constant => b.Constant("out", new Shape(2, 3), 1.5),
            OpKind.State => b.State("out", new Shape(5)),
            OpKind.MatMul => O(op, [F("a", 2, 4, 3), F("b", 5, 4)], new OpAttrs { TransA = true, TransB = true }),
            OpKind.Add or OpKind.Sub or OpKind.Mul => O(op, [F("a", 2, 3, 4), F("b", 3, 1)]),
            OpKind.Div => O(op, [F("a", 2, 3, 4), Pos("b", 4)]),
            OpKind.Scale => O(op, [F("x", 3, 5)], new OpAttrs { Value = -0.7 }),
            OpKind.Gelu or OpKind.Relu or OpKind.Tanh or OpKind.Exp => O(op, [F("x", 3, 5)]),
            OpKind.Sqrt => O(op, [Pos("x", 3, 5)]),
            OpKind.Cast => O(op, [F("x", 3, 5)], new OpAttrs { To = DType.BF16 }),
            OpKind.CausalMask => O(op, [F("x", 2, 4, 4)], new OpAttrs { Value = -1e4 }),
            OpKind.Softmax => O(op, [F("x", 3, 37)]),
            OpKind.LayerNorm => O(op, [F("x", 3, 40), F("g", 40), F("b", 40)], new OpAttrs { Epsilon = 1e-5 }),
            OpKind.BatchNorm => O(op, [F("x", 2, 3, 3, 4), F("g", 4), F("b", 4)], new OpAttrs { Epsilon = 1e-5 }),
            OpKind.Embedding => O(op, [F("table", 10, 4), Ids("ids", 10, 2, 3)]),
            OpKind.CrossEntropy => O(op, [F("logits", 6, 5), Ids("labels", 5, 6)]),
            OpKind.Reshape => O(op, [F("x", 2, 6)], new OpAttrs { Shape = [3, -1] }),
            OpKind.Transpose => O(op, [F("x", 2, 3, 4)], new OpAttrs { Axes = [2, 0, 1] }),
            OpKind.Slice => O(op, [F("x", 2, 6, 3)], new OpAttrs { Axis = 1, Start = 1, End = 4 }),
            OpKind.Concat => O(op, [F("a", 2, 2, 3), F("b", 2, 4, 3)], new OpAttrs { Axis = 1 }),
            OpKind.Broadcast => O(op, [F("x", 3, 1)], new OpAttrs { Shape = [2, 3, 4] }),
            OpKind.ReduceSum or OpKind.ReduceMean or OpKind.ReduceMax => O(op, [F("x", 2, 3, 4)], new OpAttrs { Axes = [0, 2], KeepDims = true }),
            OpKind.MoeGate => O(op, [F("logits", 2, 4, 3)], new OpAttrs { Capacity = 2 }),
            OpKind.MoeDispatch => O(op, [F("x", 2, 4, 5), b.MoeGate(F("l", 2, 4, 3), 2, "gate")], new OpAttrs { Mask = true }),
            OpKind.MoeCombine => O(op, [F("y", 3, 2, 2, 5), F("c", 2, 4, 3, 2)]),
            OpKind.Conv2d => O(op, [F("x", 2, 5, 5, 3), F("w", 3, 3, 3, 4)], new OpAttrs { Stride = 2, Padding = 1 }),
            OpKind.MaxPool or OpKind.AvgPool => O(op, [F("x", 2, 5, 5, 3)], new OpAttrs { Kernel = 3, Stride = 2, Padding = 1 }),
            OpKind.GeluGrad or OpKind.ReluGrad or OpKind.TanhGrad or OpKind.SoftmaxGrad => O(op, [F("x", 3, 6), F("dy", 3, 6)]),
            OpKind.LayerNormGradInput => O(op, [F("x", 3, 8), F("g", 8), F("dy", 3, 8)], new OpAttrs { Epsilon = 1e-5 }),
            OpKind.LayerNormGradGamma => O(op, [F("x", 2, 3, 8), F("dy", 2, 3, 8)], new OpAttrs { Epsilon = 1e-5 }),
            OpKind.BatchNormGradInput => O(op, [F("x", 2, 3, 3, 4), F("g", 4), F("dy", 2, 3, 3, 4)], new OpAttrs { Epsilon = 1e-5 }),
            OpKind.BatchNormGradGamma => O(op, [F("x", 2, 3, 3, 4), F("dy", 2, 3, 3, 4)], new OpAttrs { Epsilon = 1e-5 }),
            OpKind.EmbeddingGrad => O(op, [Ids("ids", 10, 2, 3), F("dy", 2, 3, 4)], new OpAttrs { Shape = [10, 4] }),
            OpKind.CrossEntropyGrad => O(op, [F("logits", 6, 5), Ids("labels", 5, 6), F("dloss")]),
            OpKind.SliceGrad => O(op, [F("dy", 2, 3, 3)], new OpAttrs { Shape = [2, 6, 3], Axis = 1, Start = 1, End = 4 }),
            OpKind.ReduceMaxGrad => O(op, [F("x", 2, 3, 4), F("dy", 3)], new OpAttrs { Axes = [0, 2] }),
            OpKind.MoeGateGrad => O(op, [F("logits", 2, 4, 3), F("dc", 2, 4, 3, 2)], new OpAttrs { Capacity = 2 }),
            OpKind.MoeCombineGradWeights => O(op, [F("dout", 2, 4, 5), F("y", 3, 2, 2, 5)]),
            OpKind.Conv2dGradInput => O(op, [F("dy", 2, 3, 3, 4), F("w", 3, 3, 3, 4)], new OpAttrs { Stride = 2, Padding = 1, Shape = [2, 5, 5, 3] }),
            OpKind.Conv2dGradWeight => O(op, [F("x", 2, 5, 5, 3), F("dy", 2, 3, 3, 4)], new OpAttrs { Stride = 2, Padding = 1, Shape = [3, 3, 3, 4] }),
            OpKind.MaxPoolGrad => O(op, [F("x", 2, 5, 5, 3), F("dy", 2, 3, 3, 3)], new OpAttrs { Kernel = 3, Stride = 2, Padding = 1 }),
            OpKind.AvgPoolGrad => O(op, [F("dy", 2, 3, 3, 3)], new OpAttrs { Kernel = 3, Stride = 2, Padding = 1, Shape = [2, 5, 5, 3] }),
            OpKind.ClipCoefficient => O(op, [Pos("s")], new OpAttrs { Value = 0.5 }),
            OpKind.SgdMomentum => O(op, [F("buf", 7), F("g", 7)], new OpAttrs { Momentum = 0.9 }),
            OpKind.SgdUpdate => O(op, [F("p", 7), F("d", 7), Pos("lr")], new OpAttrs { WeightDecay = 0.01 }),
            OpKind.AdamMoment => O(op, [F("m", 7), F("g", 7)], new OpAttrs { Beta = 0.999, Square = true }),
            OpKind.AdamUpdate => O(op, [F("p", 7), F("m", 7), Pos("v", 7), Pos("lr"), Step(b, inputs, dtype)],
                                   new OpAttrs { Beta = 0.9, Beta2 = 0.999, Epsilon = 1e-8, WeightDecay = 0.01 }),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "no self-test case for this op kind: add one in SelftestCases"),
        };
        return new SelftestCase(NameOf(op, precision), op, precision, b.Build([node]), node, inputs);
    }

    private static Node Step(GraphBuilder b, Dictionary<string, HostTensor> inputs, DType dtype)
    {
        inputs["step"] = HostTensor.FromFloats(dtype == DType.BF16 ? ElementType.BF16 : ElementType.F32, [3f]);
        return b.Input("step", Shape.Scalar, dtype);
    }

    private static Node Input(GraphBuilder b, Random rng, Dictionary<string, HostTensor> inputs, string name, long[] shape,
                              DType dtype, int intMax, bool positive)
    {
        var n = (int)new Shape(shape).Elements;
        if (dtype == DType.I32)
        {
            inputs[name] = HostTensor.FromInts([.. Enumerable.Range(0, n).Select(_ => rng.Next(intMax))], shape);
            return b.Input(name, new Shape(shape), DType.I32);
        }
        var values = Enumerable.Range(0, n).Select(_ => positive ? (float)(0.1 + rng.NextDouble()) : (float)(rng.NextDouble() * 4 - 2));
        if (dtype == DType.BF16) values = values.Select(v => CudaStorage.FromBf16(CudaStorage.ToBf16(v)));
        inputs[name] = HostTensor.FromFloats(dtype == DType.BF16 ? ElementType.BF16 : ElementType.F32, [.. values], shape);
        return b.Input(name, new Shape(shape), dtype);
    }
}
