namespace Alpa.Planner.Graph;

/// <summary>Element types of graph tensors.</summary>
public enum DType
{
    /// <summary>IEEE single precision.</summary>
    F32,
    /// <summary>IEEE half precision.</summary>
    F16,
    /// <summary>bfloat16: f32's exponent, 8 bits of mantissa.</summary>
    BF16,
    /// <summary>32-bit integers: token ids, labels.</summary>
    I32,
}

public static class DTypeExtensions
{
    /// <summary>Bytes per element.</summary>
    public static int Size(this DType dtype) => dtype switch
    {
        DType.F32 or DType.I32 => 4,
        DType.F16 or DType.BF16 => 2,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static bool IsFloat(this DType dtype) => dtype != DType.I32;

    /// <summary>The name used in JSON files: <c>f32</c>, <c>f16</c>, <c>bf16</c>, <c>i32</c>.</summary>
    public static string ToJsonName(this DType dtype) => dtype switch
    {
        DType.F32 => "f32",
        DType.F16 => "f16",
        DType.BF16 => "bf16",
        DType.I32 => "i32",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    public static bool TryParse(string? name, out DType dtype)
    {
        switch (name?.ToLowerInvariant())
        {
            case "f32" or "fp32" or "float32": dtype = DType.F32; return true;
            case "f16" or "fp16" or "float16": dtype = DType.F16; return true;
            case "bf16" or "bfloat16": dtype = DType.BF16; return true;
            case "i32" or "int32": dtype = DType.I32; return true;
            default: dtype = DType.F32; return false;
        }
    }
}
