namespace Alpa.Kernels;

/// <summary>
/// Element types a device tensor can hold. On the CPU backend the half types (F16, BF16) are
/// <b>stored as f32</b>: their values are rounded to the half format by <c>Cast</c>, but every
/// kernel computes and stores them in single precision (4 bytes per element).
/// </summary>
public enum ElementType
{
    /// <summary>IEEE single precision.</summary>
    F32,
    /// <summary>IEEE half precision (stored as f32 on the CPU backend).</summary>
    F16,
    /// <summary>bfloat16 (stored as f32 on the CPU backend).</summary>
    BF16,
    /// <summary>32-bit signed integers: token ids, labels.</summary>
    I32,
}

public static class ElementTypeExtensions
{
    /// <summary>True for the types whose storage is <see cref="float"/> (all but I32).</summary>
    public static bool IsFloat(this ElementType type) => type != ElementType.I32;

    /// <summary>Bytes per element in CPU storage (4 for every type: halves are stored as f32).</summary>
    public static int StorageSize(this ElementType type) => 4;
}
