using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Sharding;
using Tensor = Alpa.Kernels.Tensor;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// Batch norm (NHWC) with the batch split: the per-channel statistics over N·H·W are all-reduced
/// over the batch axes (synchronized batch norm), so every shard normalizes with the statistics of
/// the whole batch, as on one device.
/// </summary>
internal static class SpmdBatchNorm
{
    public static Tensor[] Run(NodeProgram p, Tensor[][] args, MeshCommunicator comm) => p.Kernel switch
    {
        LocalKernel.SyncBatchNorm => Forward(p, args, comm),
        LocalKernel.SyncBatchNormGradInput => GradInput(p, args, comm),
        _ => GradGamma(p, args, comm),
    };

    private static Tensor[] Forward(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var (mean, rstd) = Statistics(p, args, comm);
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var x = args[r][0].Floats();
            var gamma = args[r][1].Floats();
            var beta = args[r][2].Floats();
            var o = y[r].Floats();
            var c = gamma.Length;
            for (var i = 0; i < x.Length; i++)
                o[i] = (x[i] - mean[r][i % c]) * rstd[r][i % c] * gamma[i % c] + beta[i % c];
        }
        return y;
    }

    /// <summary>dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)), the means over the whole batch.</summary>
    private static Tensor[] GradInput(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var (mean, rstd) = Statistics(p, args, comm);
        var sums = new Tensor[args.Length];
        for (var r = 0; r < args.Length; r++)
        {
            var x = args[r][0].Floats();
            var dy = args[r][2].Floats();
            var c = mean[r].Length;
            sums[r] = comm.Devices[r].Allocate(Kernels.ElementType.F32, [2, c]);
            var acc = new double[2 * c];
            for (var i = 0; i < x.Length; i++)
            {
                acc[i % c] += dy[i];
                acc[c + i % c] += dy[i] * ((x[i] - mean[r][i % c]) * rstd[r][i % c]);
            }
            for (var k = 0; k < acc.Length; k++) sums[r].Floats()[k] = (float)acc[k];
        }
        comm.AllReduce(BatchAxes(p), sums, CollectiveReduce.Sum, p.Node.Name, "strategy");
        var rows = GlobalRows(p);
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var x = args[r][0].Floats();
            var gamma = args[r][1].Floats();
            var dy = args[r][2].Floats();
            var dx = y[r].Floats();
            var s = sums[r].Floats();
            var c = gamma.Length;
            for (var i = 0; i < x.Length; i++)
            {
                var ch = i % c;
                var xhat = (x[i] - mean[r][ch]) * rstd[r][ch];
                dx[i] = (float)(gamma[ch] * rstd[r][ch] * (dy[i] - (double)s[ch] / rows - xhat * (double)s[c + ch] / rows));
            }
            sums[r].Dispose();
        }
        return y;
    }

    /// <summary>Local Σ dy·x̂ with the global statistics; the strategy's all-reduce completes the sum.</summary>
    private static Tensor[] GradGamma(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var (mean, rstd) = Statistics(p, args, comm);
        var y = Allocate(p, comm);
        for (var r = 0; r < y.Length; r++)
        {
            var x = args[r][0].Floats();
            var dy = args[r][1].Floats();
            var o = y[r].Floats();
            var c = o.Length;
            var acc = new double[c];
            for (var i = 0; i < x.Length; i++) acc[i % c] += dy[i] * ((x[i] - mean[r][i % c]) * rstd[r][i % c]);
            for (var k = 0; k < c; k++) o[k] = (float)acc[k];
        }
        return y;
    }

    /// <summary>Per-rank channel mean and 1/√(var + ε) over the whole batch (two passes, two all-reduces).</summary>
    /// <remarks>
    /// The forward pass's statistics are the all-reduce the planner charges (2 values per channel);
    /// the gradients recompute them, which the planner does not charge ("strategy-extra").
    /// </remarks>
    private static (float[][] Mean, float[][] Rstd) Statistics(NodeProgram p, Tensor[][] args, MeshCommunicator comm)
    {
        var source = p.Kernel == LocalKernel.SyncBatchNorm ? "strategy" : "strategy-extra";
        var axes = BatchAxes(p);
        var rows = GlobalRows(p);
        var c = (int)args[0][0].Shape[^1];
        var sums = ChannelSums(args, comm, c, null);
        comm.AllReduce(axes, sums, CollectiveReduce.Sum, p.Node.Name, source);
        var mean = sums.Select(t => t.Floats().ToArray().Select(v => (float)(v / rows)).ToArray()).ToArray();
        var squares = ChannelSums(args, comm, c, mean);
        comm.AllReduce(axes, squares, CollectiveReduce.Sum, p.Node.Name, source);
        var eps = p.Node.Attrs.Epsilon;
        var rstd = squares.Select(t => t.Floats().ToArray().Select(v => (float)(1.0 / Math.Sqrt(v / rows + eps))).ToArray()).ToArray();
        foreach (var t in sums.Concat(squares)) t.Dispose();
        return (mean, rstd);
    }

    /// <summary>Per channel Σ x, or Σ (x − mean)² when <paramref name="mean"/> is given.</summary>
    private static Tensor[] ChannelSums(Tensor[][] args, MeshCommunicator comm, int c, float[][]? mean)
    {
        var result = new Tensor[args.Length];
        for (var r = 0; r < args.Length; r++)
        {
            var x = args[r][0].Floats();
            var acc = new double[c];
            for (var i = 0; i < x.Length; i++)
            {
                if (mean is null) acc[i % c] += x[i];
                else
                {
                    double d = x[i] - mean[r][i % c];
                    acc[i % c] += d * d;
                }
            }
            result[r] = comm.Devices[r].Allocate(Kernels.ElementType.F32, [c]);
            for (var k = 0; k < c; k++) result[r].Floats()[k] = (float)acc[k];
        }
        return result;
    }

    private static int BatchAxes(NodeProgram p) => ShardingSpec.Mask(p.KernelInputs[0][0]);

    private static double GlobalRows(NodeProgram p)
    {
        var x = p.Node.Inputs[0].Shape;
        return x.Elements / (double)x[-1];
    }

    private static Tensor[] Allocate(NodeProgram p, MeshCommunicator comm) =>
        [.. comm.Devices.Select(d => d.Allocate(p.Node.DType.ToElementType(), p.LocalShape))];
}
