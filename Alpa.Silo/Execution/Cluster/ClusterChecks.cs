using Alpa.Client.Contracts;
using Alpa.Kernels;
using Alpa.Planner;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>How a cluster run's final parameters compare with the one-device reference (DESIGN §6).</summary>
/// <param name="WorstTensor">Parameter with the largest relative difference.</param>
/// <param name="WorstRelative">Its ‖a − b‖ / ‖b‖.</param>
/// <param name="MaxAbs">Largest element-wise |a − b| over all parameters (reported beside the relative figure).</param>
/// <param name="Tensors">Parameters compared.</param>
public sealed record ParameterCheck(string WorstTensor, double WorstRelative, double MaxAbs, int Tensors);

/// <summary>Assembly of parameter blocks returned by the workers and the comparison with one device.</summary>
public static class ClusterChecks
{
    /// <summary>Whole parameters from blocks (a parameter held by several stages is taken from the last one); a region no block covers fails.</summary>
    public static IReadOnlyDictionary<string, HostTensor> Assemble(IEnumerable<ParameterBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(blocks);
        var result = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var group in blocks.GroupBy(b => b.Name))
        {
            var last = group.Max(b => b.Stage);
            var parts = group.Where(b => b.Stage == last).ToList();
            var shape = parts[0].Shape.ToArray();
            var full = new float[shape.Aggregate(1L, (a, d) => a * d)];
            var covered = new bool[full.Length];
            foreach (var b in parts) Place(b, shape, full, covered);
            if (Array.IndexOf(covered, false) is var hole and >= 0)
                throw new AlpaException($"the workers' blocks of '{group.Key}' leave element {hole} uncovered: a silo did not report its part");
            result[group.Key] = HostTensor.FromFloats(full, shape);
        }
        return result;
    }

    /// <summary>Per-tensor ‖a − b‖ / ‖b‖ over the reference's parameters; a parameter the run lacks fails.</summary>
    public static ParameterCheck Compare(IReadOnlyDictionary<string, HostTensor> run, IReadOnlyDictionary<string, HostTensor> reference)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(reference);
        var (worst, worstName, maxAbs) = (-1.0, "", 0.0);
        foreach (var (name, b) in reference)
        {
            if (!run.TryGetValue(name, out var a)) throw new AlpaException($"the cluster run returned no value of parameter '{name}'");
            var (x, y) = (a.Floats!, b.Floats!);
            double diff = 0, norm = 0;
            for (var i = 0; i < y.Length; i++)
            {
                var d = (double)x[i] - y[i];
                (diff, norm, maxAbs) = (diff + (d * d), norm + ((double)y[i] * y[i]), Math.Max(maxAbs, Math.Abs(d)));
            }
            var rel = Math.Sqrt(diff) / Math.Max(Math.Sqrt(norm), 1e-30);
            if (rel > worst) (worst, worstName) = (rel, name);
        }
        return new ParameterCheck(worstName, Math.Max(worst, 0), maxAbs, reference.Count);
    }

    /// <summary>Copies a block into the full row-major tensor, marking what it covers.</summary>
    private static void Place(ParameterBlock block, long[] shape, float[] full, bool[] covered)
    {
        var rank = shape.Length;
        var rows = rank == 0 ? 1 : block.BlockShape.Take(rank - 1).Aggregate(1L, (a, d) => a * d);
        var width = rank == 0 ? 1 : (int)block.BlockShape[^1];
        var index = new long[Math.Max(rank - 1, 0)];
        for (long row = 0; row < rows; row++)
        {
            long rem = row, at = 0, stride = 1;
            for (var d = rank - 2; d >= 0; d--)
            {
                index[d] = rem % block.BlockShape[d];
                rem /= block.BlockShape[d];
            }
            for (var d = rank - 1; d >= 0; d--)
            {
                var coordinate = d == rank - 1 ? block.Offset[d] : index[d] + block.Offset[d];
                at += coordinate * stride;
                stride *= shape[d];
            }
            Array.Copy(block.Values, row * width, full, at, width);
            Array.Fill(covered, true, (int)at, width);
        }
    }
}
