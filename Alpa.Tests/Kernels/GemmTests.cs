using Alpa.Kernels.Cpu;
using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class GemmTests
{
    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(false, true, false)]
    [InlineData(true, true, false)]
    [InlineData(false, false, true)]
    [InlineData(true, false, true)]
    [InlineData(false, true, true)]
    [InlineData(true, true, true)]
    public void BatchedMatMulMatchesFloat64(bool transA, bool transB, bool sharedB)
    {
        var rng = new Random(1 + (transA ? 1 : 0) + (transB ? 2 : 0) + (sharedB ? 4 : 0));
        for (var trial = 0; trial < 4; trial++)
        {
            int b0 = rng.Next(1, 4), b1 = rng.Next(1, 3), m = rng.Next(1, 40), k = rng.Next(1, 70), n = rng.Next(1, 50);
            long[] aShape = transA ? [b0, b1, k, m] : [b0, b1, m, k];
            long[] bShape = sharedB ? (transB ? [n, k] : [k, n]) : (transB ? [b0, b1, n, k] : [b0, b1, k, n]);
            var a = Ref.Randn(rng, Ref.Count(aShape));
            var b = Ref.Randn(rng, Ref.Count(bShape));
            var y = new float[b0 * b1 * m * n];
            Linear.MatMul(a, aShape, transA, b, bShape, transB, y);
            var expected = new double[y.Length];
            for (var bi = 0; bi < b0 * b1; bi++)
                for (var i = 0; i < m; i++)
                    for (var j = 0; j < n; j++)
                    {
                        double s = 0;
                        for (var p = 0; p < k; p++)
                        {
                            var av = transA ? a[bi * m * k + p * m + i] : a[bi * m * k + i * k + p];
                            var bb = sharedB ? 0 : bi * k * n;
                            var bv = transB ? b[bb + j * k + p] : b[bb + p * n + j];
                            s += (double)av * bv;
                        }
                        expected[(bi * m + i) * n + j] = s;
                    }
            Ref.Close(y, expected, 1e-5, $"trial {trial} [{m}x{k}]x[{k}x{n}]");
        }
    }

    [Fact]
    public void ReportsTheKernelsInUseAndThreads()
    {
        var report = CpuInfo.Report();
        Assert.False(string.IsNullOrWhiteSpace(report.OpenBlasCore));
        Assert.True(report.Cores >= 1);
        Assert.True(CpuBlas.Threads >= 1);
        if (report.HasAvx512 && string.IsNullOrEmpty(report.OpenBlasCoreType)) Assert.Contains("OPENBLAS_CORETYPE", report.Warning, StringComparison.Ordinal);
        else Assert.Null(report.Warning);
    }
}
