using System.Numerics.Tensors;
using Tensor = Alpa.Kernels.Tensor;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// Local kernels whose shard computation differs from the single-device kernel on local shapes:
/// vocabulary-split embeddings (local row offsets) and cross-entropy over global rows with
/// Megatron's vocabulary-parallel statistics (row max, sum of exponentials and target logit
/// all-reduced over the vocab axes).
/// </summary>
internal static class SpmdKernels
{
    public static Tensor[] Run(NodeProgram p, Tensor[][] args, MeshCommunicator comm) => p.Kernel switch
    {
        LocalKernel.VocabEmbedding => VocabEmbedding(p, args, comm),
        LocalKernel.VocabEmbeddingGrad => VocabEmbeddingGrad(p, args, comm),
        LocalKernel.CrossEntropy => CrossEntropy(p, args, comm),
        LocalKernel.SplitLayerNormGradGamma => SplitLayerNormGradGamma(p, args, comm),
        LocalKernel.SyncBatchNorm or LocalKernel.SyncBatchNormGradInput or LocalKernel.SyncBatchNormGradGamma => SpmdBatchNorm.Run(p, args, comm),
        _ => CrossEntropyGrad(p, args, comm),
    };

    private static Tensor[] VocabEmbedding(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var table = p.Strategy.Inputs[0];
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var (rows, hidden) = ((int)args[r][0].Shape[0], (int)args[r][0].Shape[1]);
            var offset = ShardLayout.Block(table[0], comm.Rank(r), comm.Mesh) * rows;
            var t = args[r][0].Floats();
            var ids = args[r][1].Ints();
            var o = y[r].Floats();
            for (var i = 0; i < ids.Length; i++)
            {
                var local = ids[i] - offset;
                var dst = o.Slice(i * hidden, hidden);
                if (local >= 0 && local < rows) t.Slice(local * hidden, hidden).CopyTo(dst);
                else dst.Clear();
            }
        }
        return y;
    }

    private static Tensor[] VocabEmbeddingGrad(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var spec = p.Pre ?? p.KernelOutput;
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var (rows, hidden) = ((int)y[r].Shape[0], (int)y[r].Shape[1]);
            var offset = ShardLayout.Block(spec[0], comm.Rank(r), comm.Mesh) * rows;
            var ids = args[r][0].Ints();
            var dy = args[r][1].Floats();
            var o = y[r].Floats();
            o.Clear();
            for (var i = 0; i < ids.Length; i++)
            {
                var local = ids[i] - offset;
                if (local < 0 || local >= rows) continue;
                var row = o.Slice(local * hidden, hidden);
                TensorPrimitives.Add(row, dy.Slice(i * hidden, hidden), row);
            }
        }
        return y;
    }

    /// <summary>
    /// dγ = Σ_rows dy · x̂ with the normalized dim split: each row's mean and variance are
    /// all-reduced over the hidden axes (the planner charges no collective for this).
    /// </summary>
    private static Tensor[] SplitLayerNormGradGamma(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var spec = p.Strategy.Inputs[0];
        var hiddenAxes = ShardingSpec.Mask(spec[spec.Rank - 1]);
        var cols = p.Node.Inputs[0].Shape[-1];
        var mean = PerRow(args, comm);
        for (var r = 0; r < mean.Length; r++) RowSums(args[r][0].Floats(), [], mean[r].Floats());
        comm.AllReduce(hiddenAxes, mean, CollectiveReduce.Sum, p.Node.Name, "strategy-extra");
        foreach (var m in mean) TensorPrimitives.Multiply(m.Floats(), 1f / cols, m.Floats());
        var variance = PerRow(args, comm);
        for (var r = 0; r < mean.Length; r++) RowSums(args[r][0].Floats(), mean[r].Floats(), variance[r].Floats());
        comm.AllReduce(hiddenAxes, variance, CollectiveReduce.Sum, p.Node.Name, "strategy-extra");
        var eps = p.Node.Attrs.Epsilon;
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var x = args[r][0].Floats();
            var dy = args[r][1].Floats();
            var m = mean[r].Floats();
            var v = variance[r].Floats();
            var local = (int)args[r][0].Shape[^1];
            var acc = new double[local];
            for (var i = 0; i < m.Length; i++)
            {
                var rstd = (float)(1.0 / Math.Sqrt(v[i] / cols + eps));
                for (var c = 0; c < local; c++) acc[c] += dy[i * local + c] * ((x[i * local + c] - m[i]) * rstd);
            }
            var o = y[r].Floats();
            for (var c = 0; c < local; c++) o[c] = (float)acc[c];
        }
        Dispose(mean, variance);
        return y;
    }

    /// <summary>Per row: Σ x, or Σ (x − mean)² when <paramref name="mean"/> is given.</summary>
    private static void RowSums(ReadOnlySpan<float> x, ReadOnlySpan<float> mean, Span<float> result)
    {
        var cols = x.Length / result.Length;
        for (var i = 0; i < result.Length; i++)
        {
            double acc = 0;
            var row = x.Slice(i * cols, cols);
            if (mean.IsEmpty) foreach (var e in row) acc += e;
            else foreach (var e in row) acc += (e - mean[i]) * (double)(e - mean[i]);
            result[i] = (float)acc;
        }
    }

    /// <summary>Loss = Σ over global rows of (max + log Σ exp(x − max) − x[label]) / rows.</summary>
    private static Tensor[] CrossEntropy(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var (vocabAxes, leadAxes, globalRows) = Splits(p);
        var (max, sum) = Statistics(p, args, comm, vocabAxes);
        var target = PerRow(args, comm);
        for (var r = 0; r < target.Length; r++)
        {
            var (rows, classes, offset) = Geometry(p, args[r][0], r, comm);
            var x = args[r][0].Floats();
            var labels = args[r][1].Ints();
            var t = target[r].Floats();
            for (var i = 0; i < rows; i++)
            {
                var local = labels[i] - offset;
                t[i] = local >= 0 && local < classes ? x[i * classes + local] : 0f;
            }
        }
        if (vocabAxes != 0) comm.AllReduce(vocabAxes, target, CollectiveReduce.Sum, p.Node.Name, "strategy");
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var m = max[r].Floats();
            var s = sum[r].Floats();
            var t = target[r].Floats();
            double total = 0;
            for (var i = 0; i < m.Length; i++) total += m[i] + Math.Log(s[i]) - t[i];
            y[r].Floats()[0] = (float)(total / globalRows);
        }
        Dispose(max, sum, target);
        if (leadAxes != 0) comm.AllReduce(leadAxes, y, CollectiveReduce.Sum, p.Node.Name, "strategy");
        return y;
    }

    /// <summary>dlogits = (softmax(x) − onehot(label)) · dloss / rows, softmax from the all-reduced statistics.</summary>
    private static Tensor[] CrossEntropyGrad(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var (vocabAxes, _, globalRows) = Splits(p);
        var (max, sum) = Statistics(p, args, comm, vocabAxes);
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var (rows, classes, offset) = Geometry(p, args[r][0], r, comm);
            var x = args[r][0].Floats();
            var labels = args[r][1].Ints();
            var scale = args[r][2].Floats()[0] / (float)globalRows;
            var o = y[r].Floats();
            var m = max[r].Floats();
            var s = sum[r].Floats();
            for (var i = 0; i < rows; i++)
            {
                var row = o.Slice(i * classes, classes);
                TensorPrimitives.Subtract(x.Slice(i * classes, classes), m[i], row);
                TensorPrimitives.Exp(row, row);
                TensorPrimitives.Multiply(row, 1f / s[i], row);
                var local = labels[i] - offset;
                if (local >= 0 && local < classes) row[local] -= 1f;
                TensorPrimitives.Multiply(row, scale, row);
            }
        }
        Dispose(max, sum);
        return y;
    }

    /// <summary>Per-row max and Σ exp(x − max) over the whole vocabulary.</summary>
    private static (Tensor[] Max, Tensor[] Sum) Statistics(NodeProgram p, Tensor[][] args, MeshCommunicator comm, int vocabAxes)
    {
        var max = PerRow(args, comm);
        for (var r = 0; r < max.Length; r++)
        {
            var (rows, classes, _) = Geometry(p, args[r][0], r, comm);
            var x = args[r][0].Floats();
            var m = max[r].Floats();
            for (var i = 0; i < rows; i++) m[i] = TensorPrimitives.Max(x.Slice(i * classes, classes));
        }
        if (vocabAxes != 0) comm.AllReduce(vocabAxes, max, CollectiveReduce.Max, p.Node.Name, "strategy");
        var sum = PerRow(args, comm);
        var tmp = new float[args[0][0].Shape[^1]];
        for (var r = 0; r < sum.Length; r++)
        {
            var (rows, classes, _) = Geometry(p, args[r][0], r, comm);
            var x = args[r][0].Floats();
            var m = max[r].Floats();
            var s = sum[r].Floats();
            for (var i = 0; i < rows; i++)
            {
                TensorPrimitives.Subtract(x.Slice(i * classes, classes), m[i], tmp);
                TensorPrimitives.Exp(tmp, tmp);
                double acc = 0;
                foreach (var v in tmp) acc += v;
                s[i] = (float)acc;
            }
        }
        if (vocabAxes != 0) comm.AllReduce(vocabAxes, sum, CollectiveReduce.Sum, p.Node.Name, "strategy");
        return (max, sum);
    }

    private static (int VocabAxes, int LeadAxes, long GlobalRows) Splits(NodeProgram p)
    {
        var logits = p.Strategy.Inputs[0];
        var vocab = ShardingSpec.Mask(logits[logits.Rank - 1]);
        var shape = p.Node.Inputs[0].Shape;
        return (vocab, logits.UsedAxes & ~vocab, shape.Elements / shape[-1]);
    }

    private static (int Rows, int Classes, int Offset) Geometry(NodeProgram p, Tensor logits, int rank, MeshCommunicator comm)
    {
        var classes = (int)logits.Shape[^1];
        var spec = p.Strategy.Inputs[0];
        return ((int)(logits.Elements / classes), classes, ShardLayout.Block(spec[spec.Rank - 1], comm.Rank(rank), comm.Mesh) * classes);
    }

    private static Tensor[] PerRow(Tensor[][] args, MeshCommunicator comm) =>
        [.. Enumerable.Range(0, args.Length).Select(r =>
            comm.Devices[r].Allocate(ElementType.F32, [args[r][0].Elements / args[r][0].Shape[^1]]))];

    private static Tensor[] Allocate(NodeProgram p, MeshCommunicator comm) =>
        [.. comm.Devices.Select(d => d.Allocate(p.Node.DType.ToElementType(), p.LocalShape))];

    private static void Dispose(params Tensor[][] groups)
    {
        foreach (var g in groups) foreach (var t in g) t.Dispose();
    }
}
