namespace Alpa.Planner.Graph;

/// <summary>
/// Attributes of a node. One record for all ops: each op reads only the properties its
/// <see cref="OpKind"/> documents, the rest stay at their defaults (and are not serialized).
/// </summary>
public sealed record OpAttrs
{
    public static OpAttrs None { get; } = new();

    /// <summary>MatMul: transpose the last two axes of the first operand.</summary>
    public bool TransA { get; init; }
    /// <summary>MatMul: transpose the last two axes of the second operand.</summary>
    public bool TransB { get; init; }
    /// <summary>Slice, Concat, SliceGrad: the axis.</summary>
    public int Axis { get; init; }
    /// <summary>Reductions: reduced axes. Transpose: the permutation.</summary>
    public int[]? Axes { get; init; }
    /// <summary>Reductions: keep reduced axes with size 1.</summary>
    public bool KeepDims { get; init; }
    /// <summary>Slice, SliceGrad: first index (inclusive).</summary>
    public long Start { get; init; }
    /// <summary>Slice, SliceGrad: last index (exclusive).</summary>
    public long End { get; init; }
    /// <summary>Reshape/Broadcast: target shape. Gradient ops: the shape of the result.</summary>
    public long[]? Shape { get; init; }
    /// <summary>Scale: the factor. Constant: the fill. CausalMask: the fill above the diagonal. ClipCoefficient: max norm. Parameter: init std.</summary>
    public double Value { get; init; }
    /// <summary>LayerNorm, BatchNorm, AdamUpdate: ε.</summary>
    public double Epsilon { get; init; }
    /// <summary>Cast: the target dtype.</summary>
    public DType To { get; init; }
    /// <summary>Conv2d, pooling: stride.</summary>
    public int Stride { get; init; } = 1;
    /// <summary>Conv2d, pooling: zero padding on each side of H and W.</summary>
    public int Padding { get; init; }
    /// <summary>Pooling: window size.</summary>
    public int Kernel { get; init; }
    /// <summary>MoeGate, MoeGateGrad: expert capacity C per group.</summary>
    public int Capacity { get; init; }
    /// <summary>MoeDispatch/MoeCombine: use the indicator combine ≠ 0 instead of the weights.</summary>
    public bool Mask { get; init; }
    /// <summary>AdamMoment: β of this moment. AdamUpdate: β1.</summary>
    public double Beta { get; init; }
    /// <summary>AdamUpdate: β2.</summary>
    public double Beta2 { get; init; }
    /// <summary>AdamMoment: the second moment (of g²).</summary>
    public bool Square { get; init; }
    /// <summary>SgdUpdate, AdamUpdate: decoupled weight decay.</summary>
    public double WeightDecay { get; init; }
    /// <summary>SgdMomentum: μ.</summary>
    public double Momentum { get; init; }
    /// <summary>Parameter: initialization.</summary>
    public InitKind Init { get; init; }

    public bool Equals(OpAttrs? other) =>
        other is not null && TransA == other.TransA && TransB == other.TransB && Axis == other.Axis
        && SeqEq(Axes, other.Axes) && KeepDims == other.KeepDims && Start == other.Start && End == other.End
        && SeqEq(Shape, other.Shape) && Value.Equals(other.Value) && Epsilon.Equals(other.Epsilon)
        && To == other.To && Stride == other.Stride && Padding == other.Padding && Kernel == other.Kernel
        && Capacity == other.Capacity && Mask == other.Mask && Beta.Equals(other.Beta)
        && Beta2.Equals(other.Beta2) && Square == other.Square && WeightDecay.Equals(other.WeightDecay)
        && Momentum.Equals(other.Momentum) && Init == other.Init;

    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(TransA); h.Add(TransB); h.Add(Axis); h.Add(KeepDims); h.Add(Start); h.Add(End);
        h.Add(Value); h.Add(Epsilon); h.Add(To); h.Add(Stride); h.Add(Padding); h.Add(Kernel);
        h.Add(Capacity); h.Add(Mask); h.Add(Beta); h.Add(Beta2); h.Add(Square); h.Add(WeightDecay);
        h.Add(Momentum); h.Add(Init);
        if (Axes is not null) foreach (var a in Axes) h.Add(a);
        if (Shape is not null) foreach (var s in Shape) h.Add(s);
        return h.ToHashCode();
    }

    private static bool SeqEq<T>(T[]? a, T[]? b) where T : IEquatable<T> =>
        a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);
}
