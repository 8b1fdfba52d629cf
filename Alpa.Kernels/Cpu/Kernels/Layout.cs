namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>Data movement: transpose, slice and its gradient, concat.</summary>
public static class Layout
{
    /// <summary>y = x with axes permuted: output axis i is input axis perm[i].</summary>
    public static void Transpose<T>(ReadOnlySpan<T> x, ReadOnlySpan<long> shape, ReadOnlySpan<int> perm, Span<T> y)
    {
        var rank = shape.Length;
        if (perm.Length != rank) throw new KernelException($"permutation of {perm.Length} axes for rank {rank}");
        var inStrides = new long[rank];
        long s = 1;
        for (var i = rank - 1; i >= 0; i--) { inStrides[i] = s; s *= shape[i]; }
        if (rank == 0 || s == 0)
        {
            x[..(int)s].CopyTo(y);
            return;
        }
        var dims = new long[rank];
        var strides = new long[rank];
        for (var i = 0; i < rank; i++) { dims[i] = shape[perm[i]]; strides[i] = inStrides[perm[i]]; }
        var inner = (int)dims[rank - 1];
        var innerStride = strides[rank - 1];
        var outer = new Odometer(dims[..^1], strides[..^1]);
        var rows = s / inner;
        for (long r = 0; r < rows; r++, outer.Next())
        {
            var dst = y.Slice((int)(r * inner), inner);
            var o = outer.Offset;
            if (innerStride == 1) x.Slice((int)o, inner).CopyTo(dst);
            else
                for (var j = 0; j < inner; j++) dst[j] = x[(int)(o + j * innerStride)];
        }
    }

    /// <summary>y = x[..., start:end, ...] along an axis, x viewed as [outer, size, inner].</summary>
    public static void Slice<T>(ReadOnlySpan<T> x, Span<T> y, long outer, long size, long inner, long start, long end)
    {
        var len = (int)((end - start) * inner);
        for (long o = 0; o < outer; o++)
            x.Slice((int)((o * size + start) * inner), len).CopyTo(y.Slice((int)(o * len), len));
    }

    /// <summary>dx = zeros [outer, size, inner] with dy placed at [start, end) of the middle axis.</summary>
    public static void SliceGrad(ReadOnlySpan<float> dy, Span<float> dx, long outer, long size, long inner, long start, long end)
    {
        dx[..(int)(outer * size * inner)].Clear();
        var len = (int)((end - start) * inner);
        for (long o = 0; o < outer; o++)
            dy.Slice((int)(o * len), len).CopyTo(dx.Slice((int)((o * size + start) * inner), len));
    }

    /// <summary>Appends one part of a concatenation: part [outer, partSize, inner] into y [outer, total, inner] at offset.</summary>
    public static void ConcatPart<T>(ReadOnlySpan<T> part, Span<T> y, long outer, long partSize, long total, long inner, long offset)
    {
        var len = (int)(partSize * inner);
        for (long o = 0; o < outer; o++)
            part.Slice((int)(o * len), len).CopyTo(y.Slice((int)((o * total + offset) * inner), len));
    }
}
