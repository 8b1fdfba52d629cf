namespace Alpa.Kernels;

/// <summary>
/// A tensor in managed host memory: what the runtime feeds in (tokens, images) and reads back
/// (loss, outputs). Exactly one of <see cref="Floats"/> and <see cref="Ints"/> is set.
/// </summary>
public sealed record HostTensor
{
    private HostTensor(ElementType type, long[] shape, float[]? floats, int[]? ints)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        var length = floats?.Length ?? ints!.Length;
        if (n != length) throw new KernelException($"host data has {length} elements, shape [{string.Join(", ", shape)}] needs {n}");
        Type = type;
        Shape = shape;
        Floats = floats;
        Ints = ints;
    }

    /// <summary>Element type (half types hold f32 values).</summary>
    public ElementType Type { get; }
    /// <summary>Dimensions, outermost first; empty for a scalar.</summary>
    public long[] Shape { get; }
    /// <summary>Row-major data of a float tensor, else null.</summary>
    public float[]? Floats { get; }
    /// <summary>Row-major data of an i32 tensor, else null.</summary>
    public int[]? Ints { get; }

    public long Elements => Floats?.Length ?? Ints!.Length;

    public static HostTensor FromFloats(float[] data, params long[] shape) => new(ElementType.F32, shape, data, null);
    public static HostTensor FromFloats(ElementType type, float[] data, params long[] shape) =>
        type.IsFloat() ? new(type, shape, data, null) : throw new KernelException($"{type} is not a float type");
    public static HostTensor FromInts(int[] data, params long[] shape) => new(ElementType.I32, shape, null, data);
    public static HostTensor Scalar(float value) => new(ElementType.F32, [], [value], null);
}
