using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class NormalizationTests
{
    [Fact]
    public void SoftmaxAndItsGradientMatchFloat64()
    {
        var rng = new Random(8);
        int rows = 13, cols = 37;
        var x = Ref.Randn(rng, rows * cols, 5);
        var dy = Ref.Randn(rng, rows * cols);
        var y = new float[x.Length];
        Normalization.Softmax(x, y, rows, cols);
        var expY = new double[x.Length];
        var expDx = new double[x.Length];
        for (var r = 0; r < rows; r++)
        {
            var row = Enumerable.Range(r * cols, cols);
            var m = row.Max(i => (double)x[i]);
            var z = row.Sum(i => Math.Exp(x[i] - m));
            foreach (var i in row) expY[i] = Math.Exp(x[i] - m) / z;
            var dot = row.Sum(i => expY[i] * dy[i]);
            foreach (var i in row) expDx[i] = expY[i] * (dy[i] - dot);
        }
        Ref.Close(y, expY, 1e-6, "softmax");
        var dx = new float[x.Length];
        Normalization.SoftmaxGrad(y, dy, dx, rows, cols);
        Ref.Close(dx, expDx, 1e-5, "softmax grad");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void NormsAndTheirGradientsMatchFloat64(bool batchNorm)
    {
        var rng = new Random(batchNorm ? 9 : 10);
        int rows = 24, cols = 19;
        const double eps = 1e-5;
        var x = Ref.Randn(rng, rows * cols, 2).Select((v, i) => v + i % cols).ToArray();
        var gamma = Ref.Randn(rng, cols);
        var beta = Ref.Randn(rng, cols);
        var dy = Ref.Randn(rng, rows * cols);
        // Groups: rows for layer norm, columns (channels) for batch norm.
        IEnumerable<int[]> groups = batchNorm
            ? Enumerable.Range(0, cols).Select(c => Enumerable.Range(0, rows).Select(r => r * cols + c).ToArray())
            : Enumerable.Range(0, rows).Select(r => Enumerable.Range(r * cols, cols).ToArray());
        var expY = new double[x.Length]; var expDx = new double[x.Length]; var expDg = new double[cols];
        foreach (var g in groups)
        {
            var mean = g.Average(i => (double)x[i]);
            var rstd = 1 / Math.Sqrt(g.Average(i => (x[i] - mean) * (x[i] - mean)) + eps);
            double Xhat(int i) => (x[i] - mean) * rstd;
            double G(int i) => dy[i] * (double)gamma[i % cols];
            var meanG = g.Average(G);
            var meanGx = g.Average(i => G(i) * Xhat(i));
            foreach (var i in g)
            {
                expY[i] = Xhat(i) * gamma[i % cols] + beta[i % cols];
                expDx[i] = rstd * (G(i) - meanG - Xhat(i) * meanGx);
                expDg[i % cols] += dy[i] * Xhat(i);
            }
        }
        var y = new float[x.Length]; var dx = new float[x.Length]; var dg = new float[cols];
        if (batchNorm)
        {
            Normalization.BatchNorm(x, gamma, beta, y, rows, cols, (float)eps);
            Normalization.BatchNormGradInput(x, gamma, dy, dx, rows, cols, (float)eps);
            Normalization.BatchNormGradGamma(x, dy, dg, rows, cols, (float)eps);
        }
        else
        {
            Normalization.LayerNorm(x, gamma, beta, y, rows, cols, (float)eps);
            Normalization.LayerNormGradInput(x, gamma, dy, dx, rows, cols, (float)eps);
            Normalization.LayerNormGradGamma(x, dy, dg, rows, cols, (float)eps);
        }
        Ref.Close(y, expY, 1e-5, "norm");
        Ref.Close(dx, expDx, 1e-5, "grad input");
        Ref.Close(dg, expDg, 1e-5, "grad gamma");
    }
}
