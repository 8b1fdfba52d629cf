using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cuda;

/// <summary>Host-side conversion between <see cref="HostTensor"/> values and the CUDA backend's storage bytes.</summary>
public static class CudaStorage
{
    /// <summary>Rounds to the nearest bfloat16 (ties to even), as the kernels do; NaN stays NaN.</summary>
    public static ushort ToBf16(float f)
    {
        var u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
        u += 0x7fffu + ((u >> 16) & 1u);
        return (ushort)(u >> 16);
    }

    public static float FromBf16(ushort b) => BitConverter.UInt32BitsToSingle((uint)b << 16);

    /// <summary>The bytes of <paramref name="source"/> in the storage of <paramref name="type"/>.</summary>
    public static byte[] Encode(HostTensor source, ElementType type)
    {
        if (source.Ints is { } ints) return MemoryMarshal.AsBytes(ints.AsSpan()).ToArray();
        var floats = source.Floats!;
        if (type != ElementType.BF16) return MemoryMarshal.AsBytes(floats.AsSpan()).ToArray();
        var halves = new ushort[floats.Length];
        for (var i = 0; i < floats.Length; i++) halves[i] = ToBf16(floats[i]);
        return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
    }

    /// <summary>A host tensor from storage bytes.</summary>
    public static HostTensor Decode(byte[] bytes, ElementType type, long[] shape)
    {
        if (type == ElementType.I32) return HostTensor.FromInts(MemoryMarshal.Cast<byte, int>(bytes).ToArray(), shape);
        if (type != ElementType.BF16) return HostTensor.FromFloats(type, MemoryMarshal.Cast<byte, float>(bytes).ToArray(), shape);
        var halves = MemoryMarshal.Cast<byte, ushort>(bytes);
        var floats = new float[halves.Length];
        for (var i = 0; i < halves.Length; i++) floats[i] = FromBf16(halves[i]);
        return HostTensor.FromFloats(type, floats, shape);
    }
}
