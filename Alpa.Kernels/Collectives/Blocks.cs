using Alpa.Kernels.Cpu;

namespace Alpa.Kernels.Collectives;

/// <summary>
/// Contiguous blocks of a row-major CPU tensor along one axis: block k of n covers indices
/// [k·size/n, (k+1)·size/n) of that axis. Byte-level, so it serves every element type.
/// </summary>
public static unsafe class Blocks
{
    /// <summary>The bytes of a CPU tensor.</summary>
    public static Span<byte> Bytes(Tensor t) => new(t.Address(), checked((int)t.Bytes));

    /// <summary>Copies block <paramref name="k"/> of <paramref name="n"/> of <paramref name="source"/> along <paramref name="axis"/> into <paramref name="destination"/>.</summary>
    public static void Extract(Tensor source, int axis, int k, int n, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(source);
        Extract(Bytes(source), source, axis, k, n, destination);
    }

    /// <summary>Block extraction from raw bytes laid out like <paramref name="layout"/> (e.g. a host-side reduction).</summary>
    public static void Extract(ReadOnlySpan<byte> src, Tensor layout, int axis, int k, int n, Tensor destination)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var (outer, size, inner) = Geometry(layout, axis, n);
        var len = size / n;
        CheckBlockShape(layout, axis, n, destination);
        if (src.Length != layout.Bytes) throw new KernelException($"{src.Length} bytes do not hold {layout}");
        var dst = Bytes(destination);
        var run = (int)(len * inner);
        for (long o = 0; o < outer; o++)
            src.Slice((int)((o * size + k * len) * inner), run).CopyTo(dst.Slice((int)(o * run), run));
    }

    /// <summary>Block extraction from raw bytes laid out like <paramref name="layout"/> into raw bytes (a network bundle).</summary>
    public static void Extract(ReadOnlySpan<byte> src, Tensor layout, int axis, int k, int n, Span<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(layout);
        var (outer, size, inner) = Geometry(layout, axis, n);
        var run = (int)(size / n * inner);
        if (src.Length != layout.Bytes || destination.Length != outer * run)
            throw new KernelException($"{src.Length} → {destination.Length} bytes do not fit block 1/{n} of {layout} along axis {axis}");
        for (long o = 0; o < outer; o++)
            src.Slice((int)((o * size + k * (size / n)) * inner), run).CopyTo(destination.Slice((int)(o * run), run));
    }

    /// <summary>Writes raw <paramref name="block"/> bytes (block-shaped, row-major) as block <paramref name="k"/> of <paramref name="n"/> of <paramref name="destination"/>.</summary>
    public static void Insert(ReadOnlySpan<byte> block, Tensor destination, int axis, int k, int n)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var (outer, size, inner) = Geometry(destination, axis, n);
        var run = (int)(size / n * inner);
        if (block.Length != outer * run)
            throw new KernelException($"{block.Length} bytes are not block 1/{n} of {destination} along axis {axis}");
        var dst = Bytes(destination);
        for (long o = 0; o < outer; o++)
            block.Slice((int)(o * run), run).CopyTo(dst.Slice((int)((o * size + k * (size / n)) * inner), run));
    }

    /// <summary>Writes <paramref name="block"/> as block <paramref name="k"/> of <paramref name="n"/> of <paramref name="destination"/> along <paramref name="axis"/>.</summary>
    public static void Insert(Tensor block, Tensor destination, int axis, int k, int n)
    {
        var (outer, size, inner) = Geometry(destination, axis, n);
        var len = size / n;
        CheckBlockShape(destination, axis, n, block);
        var src = Bytes(block);
        var dst = Bytes(destination);
        var run = (int)(len * inner);
        for (long o = 0; o < outer; o++)
            src.Slice((int)(o * run), run).CopyTo(dst.Slice((int)((o * size + k * len) * inner), run));
    }

    private static (long Outer, long Size, long Inner) Geometry(Tensor t, int axis, int n)
    {
        if (axis < 0 || axis >= t.Rank)
            throw new KernelException($"axis {axis} is out of range for {t}");
        if (n < 1 || t.Shape[axis] % n != 0)
            throw new KernelException($"dim {axis} of {t} does not split into {n} equal blocks");
        long outer = 1, inner = t.Type.StorageSize();
        for (var i = 0; i < axis; i++) outer *= t.Shape[i];
        for (var i = axis + 1; i < t.Rank; i++) inner *= t.Shape[i];
        return (outer, t.Shape[axis], inner);
    }

    private static void CheckBlockShape(Tensor whole, int axis, int n, Tensor block)
    {
        var ok = block.Rank == whole.Rank && block.Type.IsFloat() == whole.Type.IsFloat();
        for (var i = 0; ok && i < whole.Rank; i++)
            ok = block.Shape[i] == (i == axis ? whole.Shape[i] / n : whole.Shape[i]);
        if (!ok) throw new KernelException($"{block} is not block 1/{n} of {whole} along axis {axis}");
    }
}
