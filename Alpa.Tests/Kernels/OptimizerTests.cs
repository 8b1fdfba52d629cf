using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class OptimizerTests
{
    [Fact]
    public void UpdatesMatchTheirFormulas()
    {
        var rng = new Random(15);
        const int n = 203;
        var p = Ref.Randn(rng, n); var g = Ref.Randn(rng, n); var m = Ref.Randn(rng, n);
        var v = Ref.Randn(rng, n).Select(Math.Abs).ToArray();
        var y = new float[n];
        Optimizers.SgdMomentum(m, g, y, 0.9f);
        Ref.Close(y, m.Select((b, i) => 0.9 * b + g[i]).ToArray(), 1e-6, "momentum");
        Optimizers.SgdUpdate(p, g, y, 0.1f, 0.01f);
        Ref.Close(y, p.Select((q, i) => q - 0.1 * (g[i] + 0.01 * q)).ToArray(), 1e-6, "sgd");
        Optimizers.AdamMoment(m, g, y, 0.9f, false);
        Ref.Close(y, m.Select((b, i) => 0.9 * b + 0.1 * g[i]).ToArray(), 1e-6, "m");
        Optimizers.AdamMoment(v, g, y, 0.999f, true);
        Ref.Close(y, v.Select((b, i) => 0.999 * b + 0.001 * g[i] * (double)g[i]).ToArray(), 1e-6, "v");
        Optimizers.AdamUpdate(p, m, v, y, 1e-3f, 3f, 0.9f, 0.999f, 1e-8f, 0.1f);
        var c1 = 1 / (1 - Math.Pow(0.9, 3)); var c2 = 1 / (1 - Math.Pow(0.999, 3));
        Ref.Close(y, p.Select((q, i) => q - 1e-3 * (m[i] * c1 / (Math.Sqrt(v[i] * c2) + 1e-8) + 0.1 * q)).ToArray(), 1e-6, "adam");
        Assert.Equal(1f, Optimizers.ClipCoefficient(0.25f, 1f));
        Assert.Equal(1.0 / (2 + 1e-6), Optimizers.ClipCoefficient(4f, 1f), 6);
    }
}
