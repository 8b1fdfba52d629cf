using System.Buffers;
using System.Numerics.Tensors;

namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>Embedding gather and scatter-add, cross-entropy and its gradient.</summary>
public static class Indexing
{
    /// <summary>y[i, :] = table[ids[i], :] for table [vocab, hidden].</summary>
    public static void Embedding(ReadOnlySpan<float> table, ReadOnlySpan<int> ids, Span<float> y, int vocab, int hidden)
    {
        for (var i = 0; i < ids.Length; i++)
        {
            var id = CheckId(ids[i], vocab, "embedding id");
            table.Slice(id * hidden, hidden).CopyTo(y.Slice(i * hidden, hidden));
        }
    }

    /// <summary>dtable = 0, then dtable[ids[i], :] += dy[i, :] in order of i (deterministic).</summary>
    public static void EmbeddingGrad(ReadOnlySpan<int> ids, ReadOnlySpan<float> dy, Span<float> dtable, int vocab, int hidden)
    {
        dtable[..(vocab * hidden)].Clear();
        for (var i = 0; i < ids.Length; i++)
        {
            var row = dtable.Slice(CheckId(ids[i], vocab, "embedding id") * hidden, hidden);
            TensorPrimitives.Add(row, dy.Slice(i * hidden, hidden), row);
        }
    }

    /// <summary>Mean over rows of −log softmax(logits[r])[labels[r]]; logits [rows, classes].</summary>
    public static float CrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int rows, int classes)
    {
        if (rows == 0) return float.NaN;
        var tmp = ArrayPool<float>.Shared.Rent(classes);
        double total = 0;
        for (var r = 0; r < rows; r++)
        {
            var row = logits.Slice(r * classes, classes);
            var label = CheckId(labels[r], classes, "label");
            total += LogSumExp(row, tmp) - row[label];
        }
        ArrayPool<float>.Shared.Return(tmp);
        return (float)(total / rows);
    }

    /// <summary>dlogits = (softmax(logits) − onehot(labels))·dloss / rows.</summary>
    public static void CrossEntropyGrad(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, float dloss, Span<float> dlogits, int rows, int classes)
    {
        Normalization.Softmax(logits, dlogits, rows, classes);
        var scale = dloss / rows;
        for (var r = 0; r < rows; r++)
        {
            var d = dlogits.Slice(r * classes, classes);
            d[CheckId(labels[r], classes, "label")] -= 1f;
            TensorPrimitives.Multiply(d, scale, d);
        }
    }

    private static double LogSumExp(ReadOnlySpan<float> row, float[] tmp)
    {
        var max = TensorPrimitives.Max(row);
        var t = tmp.AsSpan(0, row.Length);
        TensorPrimitives.Subtract(row, max, t);
        TensorPrimitives.Exp(t, t);
        return max + Math.Log(Reductions.SumDouble(t));
    }

    private static int CheckId(int id, int count, string what)
    {
        if ((uint)id >= (uint)count) ThrowHelper.Kernel($"{what} {id} is outside [0, {count})");
        return id;
    }
}
