using System.Numerics.Tensors;

namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>The three reductions.</summary>
public enum ReduceOp
{
    Sum,
    Mean,
    Max,
}

/// <summary>
/// Reductions over a set of axes. The input is split into kept and reduced axes; reduced axes
/// at the end of the shape reduce contiguous rows (vectorized), all others go through an index
/// walk. Sums accumulate in double.
/// </summary>
public static class Reductions
{
    /// <summary>y = reduce of x over <paramref name="axes"/> (normalized, distinct); y holds the kept elements in order.</summary>
    public static void Reduce(ReduceOp op, ReadOnlySpan<float> x, ReadOnlySpan<long> shape, ReadOnlySpan<int> axes, Span<float> y)
    {
        var plan = Split(shape, axes);
        ThrowHelper.CheckLength(y.Length, plan.KeptCount, "y");
        if (plan.ReducedCount == 0)
        {
            y[..(int)plan.KeptCount].Fill(op == ReduceOp.Max ? float.NegativeInfinity : op == ReduceOp.Mean ? float.NaN : 0f);
            return;
        }
        if (op != ReduceOp.Max && plan.KeptCount > 1 && IsPrefix(axes))
        {
            SumLeadingAxes(x, plan.ReducedCount, plan.KeptCount, y, op == ReduceOp.Mean);
            return;
        }
        var offsets = plan.ReducedOffsets();
        var contiguous = plan.ReducedIsSuffix;
        var kept = new Odometer(plan.KeptDims, plan.KeptStrides);
        for (long k = 0; k < plan.KeptCount; k++, kept.Next())
        {
            var baseOffset = (int)kept.Offset;
            if (contiguous)
            {
                var row = x.Slice(baseOffset, (int)plan.ReducedCount);
                y[(int)k] = op switch
                {
                    ReduceOp.Max => TensorPrimitives.Max(row),
                    ReduceOp.Sum => (float)SumDouble(row),
                    _ => (float)(SumDouble(row) / plan.ReducedCount),
                };
                continue;
            }
            if (op == ReduceOp.Max)
            {
                var m = float.NegativeInfinity;
                foreach (var o in offsets) m = MaxNaN(m, x[baseOffset + o]);
                y[(int)k] = m;
            }
            else
            {
                double s = 0;
                foreach (var o in offsets) s += x[baseOffset + o];
                y[(int)k] = (float)(op == ReduceOp.Mean ? s / plan.ReducedCount : s);
            }
        }
    }

    private static bool IsPrefix(ReadOnlySpan<int> axes)
    {
        var seen = 0L;
        foreach (var a in axes) seen |= 1L << a;
        return seen == (1L << axes.Length) - 1;
    }

    /// <summary>
    /// Sum (or mean) over the leading axes, e.g. a bias gradient [tokens, h] → [h]: rows are added in
    /// order into a double accumulator, walking memory contiguously (a strided column walk per output
    /// element was ~100× slower on these shapes). Same summation order for every run.
    /// </summary>
    private static void SumLeadingAxes(ReadOnlySpan<float> x, long rows, long cols, Span<float> y, bool mean)
    {
        var acc = new double[cols];
        for (long r = 0; r < rows; r++)
        {
            var row = x.Slice((int)(r * cols), (int)cols);
            for (var c = 0; c < row.Length; c++) acc[c] += row[c];
        }
        for (var c = 0; c < cols; c++) y[c] = (float)(mean ? acc[c] / rows : acc[c]);
    }

    /// <summary>dx = dy routed to the first maximum of x along <paramref name="axes"/>, zeros elsewhere.</summary>
    public static void MaxGrad(ReadOnlySpan<float> x, ReadOnlySpan<long> shape, ReadOnlySpan<int> axes, ReadOnlySpan<float> dy, Span<float> dx)
    {
        var plan = Split(shape, axes);
        dx.Clear();
        if (plan.ReducedCount == 0) return;
        var offsets = plan.ReducedOffsets();
        var kept = new Odometer(plan.KeptDims, plan.KeptStrides);
        for (long k = 0; k < plan.KeptCount; k++, kept.Next())
        {
            var b = (int)kept.Offset;
            var best = offsets[0];
            for (var i = 1; i < offsets.Length; i++)
                if (x[b + offsets[i]] > x[b + best]) best = offsets[i];
            dx[b + best] = dy[(int)k];
        }
    }

    /// <summary>Sum of a span in double precision (four partial sums, fixed order: deterministic).</summary>
    public static double SumDouble(ReadOnlySpan<float> x)
    {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        var i = 0;
        for (; i + 4 <= x.Length; i += 4) { s0 += x[i]; s1 += x[i + 1]; s2 += x[i + 2]; s3 += x[i + 3]; }
        for (; i < x.Length; i++) s0 += x[i];
        return (s0 + s1) + (s2 + s3);
    }

    private static float MaxNaN(float a, float b) => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : Math.Max(a, b);

    internal static ReductionPlan Split(ReadOnlySpan<long> shape, ReadOnlySpan<int> axes)
    {
        var strides = new long[shape.Length];
        long s = 1;
        for (var i = shape.Length - 1; i >= 0; i--) { strides[i] = s; s *= shape[i]; }
        var reduced = new bool[shape.Length];
        foreach (var a in axes)
        {
            if (a < 0 || a >= shape.Length || reduced[a]) throw new KernelException($"reduction axes [{string.Join(", ", axes.ToArray())}] are invalid for rank {shape.Length}");
            reduced[a] = true;
        }
        var kd = new List<long>(); var ks = new List<long>(); var rd = new List<long>(); var rs = new List<long>();
        for (var i = 0; i < shape.Length; i++)
        {
            if (reduced[i]) { rd.Add(shape[i]); rs.Add(strides[i]); }
            else { kd.Add(shape[i]); ks.Add(strides[i]); }
        }
        var suffix = true;
        for (var i = 0; i < shape.Length; i++)
            if (!reduced[i] && Array.IndexOf(reduced, true) >= 0 && i > Array.IndexOf(reduced, true)) suffix = false;
        return new ReductionPlan([.. kd], [.. ks], [.. rd], [.. rs], suffix);
    }
}

internal sealed record ReductionPlan(long[] KeptDims, long[] KeptStrides, long[] ReducedDims, long[] ReducedStrides, bool ReducedIsSuffix)
{
    public long KeptCount => Product(KeptDims);
    public long ReducedCount => Product(ReducedDims);

    /// <summary>Offsets (relative to a kept position) of every reduced element, in row-major order.</summary>
    public int[] ReducedOffsets()
    {
        var result = new int[ReducedCount];
        var o = new Odometer(ReducedDims, ReducedStrides);
        for (var i = 0; i < result.Length; i++, o.Next()) result[i] = (int)o.Offset;
        return result;
    }

    private static long Product(long[] d)
    {
        long p = 1;
        foreach (var x in d) p *= x;
        return p;
    }
}

/// <summary>Row-major walk over a multi-index, tracking the element offset under given strides.</summary>
internal sealed class Odometer(long[] dims, long[] strides)
{
    private readonly long[] _index = new long[dims.Length];

    public long Offset { get; private set; }

    public void Next()
    {
        for (var d = dims.Length - 1; d >= 0; d--)
        {
            _index[d]++;
            Offset += strides[d];
            if (_index[d] < dims[d]) return;
            Offset -= strides[d] * dims[d];
            _index[d] = 0;
        }
    }
}
