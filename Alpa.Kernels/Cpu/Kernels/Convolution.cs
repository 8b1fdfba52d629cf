using System.Buffers;

namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>Geometry of a 2-D convolution or pooling window over NHWC images.</summary>
public readonly record struct ConvGeometry(int N, int H, int W, int Cin, int KH, int KW, int Cout, int Stride, int Padding)
{
    public int Ho => (H + 2 * Padding - KH) / Stride + 1;
    public int Wo => (W + 2 * Padding - KW) / Stride + 1;
    /// <summary>Columns of the im2col matrix: KH·KW·Cin.</summary>
    public int K => KH * KW * Cin;
    /// <summary>The convolution is a plain GEMM over pixels (1×1 window, stride 1, no padding).</summary>
    public bool IsPointwise => KH == 1 && KW == 1 && Stride == 1 && Padding == 0;
}

/// <summary>
/// Conv2d (x [N,H,W,Cin], w [KH,KW,Cin,Cout]) via im2col + GEMM, and its input and weight
/// gradients (col2im). Images are processed in chunks so the im2col matrix stays ≤ 64 MiB.
/// </summary>
public static unsafe class Convolution
{
    private const long ChunkFloats = 16L << 20;

    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> y, ConvGeometry g)
    {
        var pixels = g.Ho * g.Wo;
        var (per, col) = RentColumns(g);
        for (var first = 0; first < g.N; first += per)
        {
            var count = Math.Min(per, g.N - first);
            var src = g.IsPointwise ? x.Slice(first * pixels * g.K, count * pixels * g.K) : Im2Col(x, g, first, count, col);
            fixed (float* pa = src, pb = w, pc = y)
                CpuBlas.Sgemm(false, false, count * pixels, g.Cout, g.K, 1f, pa, g.K, pb, g.Cout, 0f, pc + (long)first * pixels * g.Cout, g.Cout);
        }
        ReturnColumns(col);
    }

    /// <summary>dx [N,H,W,Cin] = col2im(dy · wᵀ).</summary>
    public static void GradInput(ReadOnlySpan<float> dy, ReadOnlySpan<float> w, Span<float> dx, ConvGeometry g)
    {
        var pixels = g.Ho * g.Wo;
        dx[..(g.N * g.H * g.W * g.Cin)].Clear();
        var (per, col) = RentColumns(g);
        for (var first = 0; first < g.N; first += per)
        {
            var count = Math.Min(per, g.N - first);
            var rows = count * pixels;
            var dcol = g.IsPointwise ? dx.Slice(first * pixels * g.K, rows * g.K) : col.AsSpan(0, rows * g.K);
            fixed (float* pa = dy, pb = w, pc = dcol)
                CpuBlas.Sgemm(false, true, rows, g.K, g.Cout, 1f, pa + (long)first * pixels * g.Cout, g.Cout, pb, g.Cout, 0f, pc, g.K);
            if (!g.IsPointwise) Col2ImAdd(col, dx, g, first, count);
        }
        ReturnColumns(col);
    }

    /// <summary>dw [KH,KW,Cin,Cout] = Σ over images of im2col(x)ᵀ · dy.</summary>
    public static void GradWeight(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dw, ConvGeometry g)
    {
        var pixels = g.Ho * g.Wo;
        dw[..(g.K * g.Cout)].Clear();
        var (per, col) = RentColumns(g);
        for (var first = 0; first < g.N; first += per)
        {
            var count = Math.Min(per, g.N - first);
            var src = g.IsPointwise ? x.Slice(first * pixels * g.K, count * pixels * g.K) : Im2Col(x, g, first, count, col);
            fixed (float* pa = src, pb = dy, pc = dw)
                CpuBlas.Sgemm(true, false, g.K, g.Cout, count * pixels, 1f, pa, g.K, pb + (long)first * pixels * g.Cout, g.Cout, 1f, pc, g.Cout);
        }
        ReturnColumns(col);
    }

    /// <summary>Images per chunk and a pooled im2col buffer for that many (empty for pointwise convolutions).</summary>
    private static (int PerChunk, float[] Columns) RentColumns(ConvGeometry g)
    {
        long perImage = (long)g.Ho * g.Wo * g.K;
        var per = (int)Math.Clamp(ChunkFloats / Math.Max(1, perImage), 1, Math.Max(1, g.N));
        return (per, g.IsPointwise ? [] : ArrayPool<float>.Shared.Rent((int)Math.Max(1, per * perImage)));
    }

    private static void ReturnColumns(float[] col)
    {
        if (col.Length > 0) ArrayPool<float>.Shared.Return(col);
    }

    private static Span<float> Im2Col(ReadOnlySpan<float> x, ConvGeometry g, int first, int count, float[] col)
    {
        var span = col.AsSpan(0, count * g.Ho * g.Wo * g.K);
        var r = 0;
        for (var n = first; n < first + count; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++, r++)
                    for (var kh = 0; kh < g.KH; kh++)
                    {
                        var ih = oh * g.Stride - g.Padding + kh;
                        for (var kw = 0; kw < g.KW; kw++)
                        {
                            var iw = ow * g.Stride - g.Padding + kw;
                            var dst = span.Slice(r * g.K + (kh * g.KW + kw) * g.Cin, g.Cin);
                            if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) dst.Clear();
                            else x.Slice(((n * g.H + ih) * g.W + iw) * g.Cin, g.Cin).CopyTo(dst);
                        }
                    }
        return span;
    }

    private static void Col2ImAdd(ReadOnlySpan<float> col, Span<float> dx, ConvGeometry g, int first, int count)
    {
        var r = 0;
        for (var n = first; n < first + count; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++, r++)
                    for (var kh = 0; kh < g.KH; kh++)
                    {
                        var ih = oh * g.Stride - g.Padding + kh;
                        if (ih < 0 || ih >= g.H) continue;
                        for (var kw = 0; kw < g.KW; kw++)
                        {
                            var iw = ow * g.Stride - g.Padding + kw;
                            if (iw < 0 || iw >= g.W) continue;
                            var dst = dx.Slice(((n * g.H + ih) * g.W + iw) * g.Cin, g.Cin);
                            System.Numerics.Tensors.TensorPrimitives.Add(dst, col.Slice(r * g.K + (kh * g.KW + kw) * g.Cin, g.Cin), dst);
                        }
                    }
    }
}
