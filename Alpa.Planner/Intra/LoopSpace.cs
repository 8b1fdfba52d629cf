using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>
/// An op seen as an einsum: named loop labels with sizes, and for every input and the output which
/// label each tensor dim iterates (−1: the dim must stay replicated). Mapping mesh axes onto labels
/// gives the op's parallel algorithms: labels missing from the output are contracted, so splitting
/// them leaves partial sums that an all-reduce (or reduce-scatter) completes.
/// </summary>
internal sealed class LoopSpace
{
    private readonly List<long> _sizes = [];
    private readonly List<bool> _fixed = [];

    public int[][] Inputs { get; set; } = [];
    public int[] Output { get; set; } = [];

    /// <summary>Extra collectives a choice needs besides partial sums (statistics synchronization).</summary>
    public Func<int[], Cluster.LogicalMesh, List<(Sharding.CollectiveKind Kind, int Axes, double Bytes)>>? Extra { get; set; }

    public int Count => _sizes.Count;
    public long Size(int label) => _sizes[label];
    public bool IsFixed(int label) => _fixed[label];

    /// <summary>A new label; a fixed label is never split.</summary>
    public int Label(long size, bool isFixed = false)
    {
        _sizes.Add(size);
        _fixed.Add(isFixed);
        return _sizes.Count - 1;
    }

    public void Fix(int label)
    {
        if (label >= 0) _fixed[label] = true;
    }

    /// <summary>Labels one per dim of <paramref name="shape"/>.</summary>
    public int[] Labels(Shape shape) => [.. shape.Select(d => Label(d))];

    /// <summary>True when the label appears in no input (splitting it does not shrink the work).</summary>
    public bool InInputs(int label)
    {
        foreach (var dims in Inputs)
            if (Array.IndexOf(dims, label) >= 0) return true;
        return false;
    }

    public bool Contracted(int label) => Array.IndexOf(Output, label) < 0;

    /// <summary>Dims of an operand aligned right to <paramref name="outLabels"/> (NumPy broadcasting).</summary>
    public static int[] Broadcast(Shape operand, Shape output, int[] outLabels)
    {
        var dims = new int[operand.Rank];
        var offset = output.Rank - operand.Rank;
        for (var j = 0; j < operand.Rank; j++)
            dims[j] = operand[j] == output[j + offset] ? outLabels[j + offset] : -1;
        return dims;
    }

    /// <summary>The einsum view of <paramref name="n"/>, or null for ops enumerated specially (leaves, reshape).</summary>
    public static LoopSpace? For(Node n) => n.Op switch
    {
        OpKind.Parameter or OpKind.Input or OpKind.Constant or OpKind.State or OpKind.Reshape => null,
        OpKind.MatMul => LoopSpaces.MatMul(n),
        OpKind.Softmax or OpKind.SoftmaxGrad => LoopSpaces.Elementwise(n, fixedTail: 1),
        OpKind.CausalMask => LoopSpaces.Elementwise(n, fixedTail: 2),
        OpKind.LayerNorm or OpKind.LayerNormGradInput => LoopSpaces.LayerNorm(n),
        OpKind.LayerNormGradGamma => LoopSpaces.NormGradGamma(n, n.Inputs[0].Shape.Rank - 1),
        OpKind.BatchNorm or OpKind.BatchNormGradInput => LoopSpaces.BatchNorm(n),
        OpKind.BatchNormGradGamma => LoopSpaces.NormGradGamma(n, 3),
        OpKind.Embedding => LoopSpaces.Embedding(n),
        OpKind.EmbeddingGrad => LoopSpaces.EmbeddingGrad(n),
        OpKind.CrossEntropy or OpKind.CrossEntropyGrad => LoopSpaces.CrossEntropy(n),
        OpKind.ReduceSum or OpKind.ReduceMean or OpKind.ReduceMax => LoopSpaces.Reduce(n),
        OpKind.ReduceMaxGrad => LoopSpaces.ReduceMaxGrad(n),
        OpKind.Transpose => LoopSpaces.Transpose(n),
        OpKind.Slice or OpKind.SliceGrad or OpKind.Concat => LoopSpaces.AlongAxis(n),
        OpKind.MoeGate or OpKind.MoeGateGrad => LoopSpaces.MoeGate(n),
        OpKind.MoeDispatch or OpKind.MoeCombine or OpKind.MoeCombineGradWeights => LoopSpaces.Moe(n),
        OpKind.Conv2d or OpKind.Conv2dGradInput or OpKind.Conv2dGradWeight => LoopSpaces.Conv(n),
        OpKind.MaxPool or OpKind.AvgPool or OpKind.MaxPoolGrad or OpKind.AvgPoolGrad => LoopSpaces.Pool(n),
        OpKind.Add or OpKind.Sub or OpKind.Mul or OpKind.Div or OpKind.Scale or OpKind.Gelu or OpKind.Relu
            or OpKind.Tanh or OpKind.Exp or OpKind.Sqrt or OpKind.Cast or OpKind.Broadcast
            or OpKind.GeluGrad or OpKind.ReluGrad or OpKind.TanhGrad or OpKind.ClipCoefficient
            or OpKind.SgdMomentum or OpKind.SgdUpdate or OpKind.AdamMoment or OpKind.AdamUpdate
            => LoopSpaces.Elementwise(n, fixedTail: 0),
        _ => throw new IntraOpException($"node '{n.Name}': op kind {n.Op} has no sharding strategies; add it to LoopSpace.For") { Field = n.Name },
    };
}
