using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>An element-wise operator f(x), scalar and vectorized (the System.Numerics.Tensors pattern).</summary>
public interface IUnaryOperator
{
    float Invoke(float x);
    Vector256<float> Invoke(Vector256<float> x);
    Vector512<float> Invoke(Vector512<float> x);
}

/// <summary>An element-wise operator f(x, y).</summary>
public interface IBinaryOperator
{
    float Invoke(float x, float y);
    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y);
    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y);
}

/// <summary>An element-wise operator f(x, y, z).</summary>
public interface ITernaryOperator
{
    float Invoke(float x, float y, float z);
    Vector256<float> Invoke(Vector256<float> x, Vector256<float> y, Vector256<float> z);
    Vector512<float> Invoke(Vector512<float> x, Vector512<float> y, Vector512<float> z);
}

/// <summary>
/// The one vectorized driver for operator structs: 512-bit blocks when the hardware has them,
/// else 256-bit, and the scalar tail here only. Outputs may alias inputs element for element.
/// </summary>
public static class SimdDriver
{
    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IUnaryOperator
    {
        CheckSizes(x.Length, y.Length);
        ref var px = ref MemoryMarshal.GetReference(x);
        ref var py = ref MemoryMarshal.GetReference(y);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) op.Invoke(Vector512.LoadUnsafe(ref px, i)).StoreUnsafe(ref py, i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) op.Invoke(Vector256.LoadUnsafe(ref px, i)).StoreUnsafe(ref py, i);
        for (; i < n; i++) Unsafe.Add(ref py, i) = op.Invoke(Unsafe.Add(ref px, i));
    }

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> z) where TOp : struct, IBinaryOperator
    {
        CheckSizes(x.Length, y.Length);
        CheckSizes(x.Length, z.Length);
        ref var px = ref MemoryMarshal.GetReference(x);
        ref var py = ref MemoryMarshal.GetReference(y);
        ref var pz = ref MemoryMarshal.GetReference(z);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) op.Invoke(Vector512.LoadUnsafe(ref px, i), Vector512.LoadUnsafe(ref py, i)).StoreUnsafe(ref pz, i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) op.Invoke(Vector256.LoadUnsafe(ref px, i), Vector256.LoadUnsafe(ref py, i)).StoreUnsafe(ref pz, i);
        for (; i < n; i++) Unsafe.Add(ref pz, i) = op.Invoke(Unsafe.Add(ref px, i), Unsafe.Add(ref py, i));
    }

    public static void Map<TOp>(TOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, ReadOnlySpan<float> z, Span<float> w)
        where TOp : struct, ITernaryOperator
    {
        CheckSizes(x.Length, y.Length);
        CheckSizes(x.Length, z.Length);
        CheckSizes(x.Length, w.Length);
        ref var px = ref MemoryMarshal.GetReference(x);
        ref var py = ref MemoryMarshal.GetReference(y);
        ref var pz = ref MemoryMarshal.GetReference(z);
        ref var pw = ref MemoryMarshal.GetReference(w);
        nuint n = (nuint)x.Length, i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16)
                op.Invoke(Vector512.LoadUnsafe(ref px, i), Vector512.LoadUnsafe(ref py, i), Vector512.LoadUnsafe(ref pz, i)).StoreUnsafe(ref pw, i);
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8)
                op.Invoke(Vector256.LoadUnsafe(ref px, i), Vector256.LoadUnsafe(ref py, i), Vector256.LoadUnsafe(ref pz, i)).StoreUnsafe(ref pw, i);
        for (; i < n; i++) Unsafe.Add(ref pw, i) = op.Invoke(Unsafe.Add(ref px, i), Unsafe.Add(ref py, i), Unsafe.Add(ref pz, i));
    }

    private static void CheckSizes(int a, int b)
    {
        if (a != b) ThrowHelper.Kernel($"element-wise operands have {a} and {b} elements");
    }
}
