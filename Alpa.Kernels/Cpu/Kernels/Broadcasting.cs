namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>
/// NumPy broadcasting. Dimensions are right-aligned; an operand's size-1 (or missing) dimension is
/// repeated. The output shape is walked row by row after merging adjacent dimensions that
/// broadcast the same way, so the inner loop is a contiguous, scalar-broadcast or fill run.
/// </summary>
public static class Broadcasting
{
    /// <summary>Broadcast shape of a and b; throws when they do not broadcast.</summary>
    public static long[] Shape(ReadOnlySpan<long> a, ReadOnlySpan<long> b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var y = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            var db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da != db && da != 1 && db != 1)
                throw new KernelException($"shapes [{string.Join(", ", a.ToArray())}] and [{string.Join(", ", b.ToArray())}] do not broadcast");
            y[i] = Math.Max(da, db);
        }
        return y;
    }

    /// <summary>y = a op b with broadcasting; y has the broadcast shape.</summary>
    public static void Binary(BinaryOp op, ReadOnlySpan<float> a, ReadOnlySpan<long> aShape,
                              ReadOnlySpan<float> b, ReadOnlySpan<long> bShape, Span<float> y)
    {
        var yShape = Shape(aShape, bShape);
        if (aShape.SequenceEqual(bShape))
        {
            Elementwise.Binary(op, a, b, y);
            return;
        }
        var (dims, sa, sb) = Merge(yShape, aShape, bShape);
        var rank = dims.Length;
        var inner = (int)dims[rank - 1];
        long rows = 1;
        for (var i = 0; i < rank - 1; i++) rows *= dims[i];
        var idx = new long[rank];
        long oa = 0, ob = 0;
        for (long r = 0; r < rows; r++)
        {
            var dst = y.Slice((int)(r * inner), inner);
            Row(op, a, oa, sa[rank - 1], b, ob, sb[rank - 1], dst);
            for (var d = rank - 2; d >= 0; d--)
            {
                idx[d]++; oa += sa[d]; ob += sb[d];
                if (idx[d] < dims[d]) break;
                oa -= sa[d] * dims[d]; ob -= sb[d] * dims[d]; idx[d] = 0;
            }
        }
    }

    private static void Row(BinaryOp op, ReadOnlySpan<float> a, long oa, long sa, ReadOnlySpan<float> b, long ob, long sb, Span<float> y)
    {
        var n = y.Length;
        if (sa == 1 && sb == 1) Elementwise.Binary(op, a.Slice((int)oa, n), b.Slice((int)ob, n), y);
        else if (sa == 1) Elementwise.Binary(op, a.Slice((int)oa, n), b[(int)ob], y);
        else if (sb == 1) Elementwise.Binary(op, a[(int)oa], b.Slice((int)ob, n), y);
        else y.Fill(Elementwise.Apply(op, a[(int)oa], b[(int)ob]));
    }

    /// <summary>y = x broadcast to yShape (a bit-exact copy of the repeated elements).</summary>
    public static void To(ReadOnlySpan<float> x, ReadOnlySpan<long> xShape, Span<float> y, ReadOnlySpan<long> yShape)
    {
        if (!Shape(xShape, yShape).AsSpan().SequenceEqual(yShape))
            throw new KernelException($"[{string.Join(", ", xShape.ToArray())}] does not broadcast to [{string.Join(", ", yShape.ToArray())}]");
        var (dims, sx, _) = Merge(yShape.ToArray(), xShape, xShape);
        var rank = dims.Length;
        var inner = (int)dims[rank - 1];
        long rows = 1;
        for (var i = 0; i < rank - 1; i++) rows *= dims[i];
        var idx = new long[rank];
        long ox = 0;
        for (long r = 0; r < rows; r++)
        {
            var dst = y.Slice((int)(r * inner), inner);
            if (sx[rank - 1] == 1) x.Slice((int)ox, inner).CopyTo(dst);
            else dst.Fill(x[(int)ox]);
            for (var d = rank - 2; d >= 0; d--)
            {
                idx[d]++; ox += sx[d];
                if (idx[d] < dims[d]) break;
                ox -= sx[d] * dims[d]; idx[d] = 0;
            }
        }
    }

    /// <summary>
    /// Right-aligns both operands to the output rank, drops size-1 output dims and merges
    /// neighbours with the same broadcast pattern. Returns dims and element strides (0 = repeated).
    /// </summary>
    private static (long[] Dims, long[] Sa, long[] Sb) Merge(long[] y, ReadOnlySpan<long> a, ReadOnlySpan<long> b)
    {
        var rank = y.Length;
        var sa = Strides(a, rank);
        var sb = Strides(b, rank);
        var dims = new List<long>(); var la = new List<long>(); var lb = new List<long>();
        for (var i = 0; i < rank; i++)
        {
            if (y[i] == 1) continue;
            var n = dims.Count;
            if (n > 0 && (la[n - 1] == 0) == (sa[i] == 0) && (lb[n - 1] == 0) == (sb[i] == 0)
                && la[n - 1] == sa[i] * y[i] && lb[n - 1] == sb[i] * y[i])
            {
                dims[n - 1] *= y[i]; la[n - 1] = sa[i]; lb[n - 1] = sb[i];
            }
            else
            {
                dims.Add(y[i]); la.Add(sa[i]); lb.Add(sb[i]);
            }
        }
        if (dims.Count == 0) { dims.Add(1); la.Add(1); lb.Add(1); }
        return ([.. dims], [.. la], [.. lb]);
    }

    private static long[] Strides(ReadOnlySpan<long> shape, int rank)
    {
        var s = new long[rank];
        long stride = 1;
        for (var i = rank - 1; i >= 0; i--)
        {
            var j = i - (rank - shape.Length);
            var d = j < 0 ? 1 : shape[j];
            s[i] = d == 1 ? 0 : stride;
            stride *= d;
        }
        return s;
    }
}
