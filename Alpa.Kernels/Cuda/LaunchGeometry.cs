using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cuda;

/// <summary>Grid and block of a one-dimensional launch.</summary>
/// <param name="GridX">Blocks; 0 means nothing to launch.</param>
/// <param name="BlockX">Threads per block.</param>
/// <param name="SharedBytes">Dynamic shared memory per block.</param>
public readonly record struct LaunchShape(uint GridX, uint BlockX, uint SharedBytes = 0);

/// <summary>Up to eight dimensions or strides, passed by value to a kernel (<c>struct Dims</c>).</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct Dims
{
    public const int MaxRank = 8;
    public fixed long D[MaxRank];

    public static Dims From(ReadOnlySpan<long> values)
    {
        if (values.Length > MaxRank) throw new KernelException($"the CUDA kernels handle at most {MaxRank} dimensions, got {values.Length}");
        var d = default(Dims);
        for (var i = 0; i < values.Length; i++) d.D[i] = values[i];
        return d;
    }
}

/// <summary>Convolution and pooling geometry passed to the kernels (<c>struct Conv</c>), NHWC.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly record struct ConvShape(int N, int H, int W, int Ci, int KH, int KW, int Co, int Stride, int Pad, int OH, int OW)
{
    /// <summary>Geometry from the image size, kernel, channels, stride and padding; the output size is computed.</summary>
    public static ConvShape Of(int n, int h, int w, int ci, int kh, int kw, int co, int stride, int pad)
    {
        if (stride < 1) throw new KernelException($"stride must be ≥ 1, got {stride}");
        var oh = (h + 2 * pad - kh) / stride + 1;
        var ow = (w + 2 * pad - kw) / stride + 1;
        if (oh < 1 || ow < 1) throw new KernelException($"a {kh}×{kw} window with padding {pad} does not fit a {h}×{w} image");
        return new ConvShape(n, h, w, ci, kh, kw, co, stride, pad, oh, ow);
    }
}

/// <summary>
/// Launch shapes and index arithmetic computed on the host for the kernels of
/// <see cref="Kernels.CudaSources"/>: pure functions, tested without a GPU.
/// </summary>
public static class LaunchGeometry
{
    /// <summary>Threads per block of the element-wise (grid-stride) kernels.</summary>
    public const int ElementwiseBlock = 256;

    /// <summary>Blocks per multiprocessor an element-wise launch is capped at (the loop strides over the rest).</summary>
    public const int BlocksPerMultiprocessor = 32;

    /// <summary>Largest block of the row and column kernels.</summary>
    public const int MaxBlock = 1024;

    /// <summary>Grid-stride launch over <paramref name="n"/> elements: enough blocks to cover them, capped.</summary>
    public static LaunchShape Elementwise(long n, int multiprocessors)
    {
        if (n < 0) throw new KernelException($"element count must be ≥ 0, got {n}");
        if (n == 0) return new LaunchShape(0, ElementwiseBlock);
        var blocks = (n + ElementwiseBlock - 1) / ElementwiseBlock;
        var cap = (long)Math.Max(1, multiprocessors) * BlocksPerMultiprocessor;
        return new LaunchShape((uint)Math.Min(blocks, cap), ElementwiseBlock);
    }

    /// <summary>
    /// One block per row (or column) of <paramref name="length"/> elements: the block is the
    /// smallest multiple of 32 covering the length, at most 1024 (the block reductions need whole warps).
    /// </summary>
    public static LaunchShape PerRow(long rows, long length)
    {
        if (rows < 0 || length < 0) throw new KernelException($"rows and length must be ≥ 0, got {rows} and {length}");
        if (rows > int.MaxValue) throw new KernelException($"{rows} rows exceed the grid limit of {int.MaxValue} blocks");
        var block = Math.Clamp((length + 31) / 32 * 32, 32, MaxBlock);
        return new LaunchShape(length == 0 ? 0 : (uint)rows, (uint)block);
    }

    /// <summary>Row-major strides of a shape.</summary>
    public static long[] Strides(ReadOnlySpan<long> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (var i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /// <summary>
    /// Strides with which an input of shape <paramref name="input"/> is read at each axis of
    /// <paramref name="output"/> under NumPy broadcasting (axes right-aligned, 0 where broadcast).
    /// </summary>
    public static long[] BroadcastStrides(ReadOnlySpan<long> input, ReadOnlySpan<long> output)
    {
        if (input.Length > output.Length) throw new KernelException($"cannot broadcast rank {input.Length} to rank {output.Length}");
        var strides = Strides(input);
        var result = new long[output.Length];
        var shift = output.Length - input.Length;
        for (var i = 0; i < input.Length; i++)
        {
            if (input[i] != output[i + shift] && input[i] != 1)
                throw new KernelException($"cannot broadcast [{string.Join(", ", input.ToArray())}] to [{string.Join(", ", output.ToArray())}]");
            result[i + shift] = input[i] == 1 ? 0 : strides[i];
        }
        return result;
    }

    /// <summary>For a transpose (output axis i is input axis <paramref name="axes"/>[i]): the input strides in output axis order.</summary>
    public static long[] PermutedStrides(ReadOnlySpan<long> input, ReadOnlySpan<int> axes)
    {
        var strides = Strides(input);
        var result = new long[axes.Length];
        for (var i = 0; i < axes.Length; i++) result[i] = strides[axes[i]];
        return result;
    }

    /// <summary>
    /// Splits the axes of <paramref name="input"/> into kept (indexing the output, in order) and
    /// reduced (walked per output element) dimensions with their input strides.
    /// </summary>
    public static (long[] KeptShape, long[] KeptStrides, long[] ReducedShape, long[] ReducedStrides) SplitAxes(ReadOnlySpan<long> input, ReadOnlySpan<int> reduced)
    {
        var strides = Strides(input);
        List<long> ks = [], kst = [], rs = [], rst = [];
        for (var i = 0; i < input.Length; i++)
        {
            var isReduced = reduced.Contains(i);
            (isReduced ? rs : ks).Add(input[i]);
            (isReduced ? rst : kst).Add(strides[i]);
        }
        return ([.. ks], [.. kst], [.. rs], [.. rst]);
    }

    /// <summary>Sizes before, at and after <paramref name="axis"/>: the [outer, size, inner] view of layout kernels.</summary>
    public static (long Outer, long Size, long Inner) Around(ReadOnlySpan<long> shape, int axis)
    {
        long outer = 1, inner = 1;
        for (var i = 0; i < axis; i++) outer *= shape[i];
        for (var i = axis + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[axis], inner);
    }
}
