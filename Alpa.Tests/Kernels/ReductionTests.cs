using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class ReductionTests
{
    [Fact]
    public void ReductionsOverRandomAxesMatchFloat64()
    {
        var rng = new Random(7);
        for (var trial = 0; trial < 60; trial++)
        {
            var rank = rng.Next(1, 5);
            var shape = Ref.RandomShape(rng, rank, 7);
            var axes = Enumerable.Range(0, rank).Where(_ => rng.Next(2) == 0).ToArray();
            var x = Ref.Randn(rng, Ref.Count(shape));
            var keptShape = shape.Where((_, i) => !axes.Contains(i)).ToArray();
            var outN = (int)Ref.Count(keptShape);
            var sum = new double[outN];
            var max = Enumerable.Repeat(double.NegativeInfinity, outN).ToArray();
            var arg = new int[outN];
            for (var i = 0; i < x.Length; i++)
            {
                var idx = Ref.Index(i, shape);
                var o = 0L;
                foreach (var d in Enumerable.Range(0, rank).Where(d => !axes.Contains(d))) o = o * shape[d] + idx[d];
                sum[o] += x[i];
                if (x[i] > max[o]) { max[o] = x[i]; arg[o] = i; }
            }
            var count = x.Length / outN;
            var y = new float[outN];
            Reductions.Reduce(ReduceOp.Sum, x, shape, axes, y); Ref.Close(y, sum, 1e-6, "sum");
            Reductions.Reduce(ReduceOp.Mean, x, shape, axes, y); Ref.Close(y, sum.Select(s => s / count).ToArray(), 1e-6, "mean");
            Reductions.Reduce(ReduceOp.Max, x, shape, axes, y); Ref.Close(y, max, 0, "max");
            var dy = Ref.Randn(rng, outN);
            var dx = new float[x.Length];
            Reductions.MaxGrad(x, shape, axes, dy, dx);
            var expected = new double[x.Length];
            for (var o = 0; o < outN; o++) expected[arg[o]] = dy[o];
            Ref.Close(dx, expected, 0, "max grad");
        }
    }
}
