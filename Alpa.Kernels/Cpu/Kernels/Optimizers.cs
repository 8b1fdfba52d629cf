namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>Optimizer updates and gradient clipping (element-wise, through <see cref="SimdDriver"/>).</summary>
public static class Optimizers
{
    /// <summary>min(1, maxNorm / (√s + 1e-6)) for a sum of squares s.</summary>
    public static float ClipCoefficient(float sumOfSquares, float maxNorm) =>
        (float)Math.Min(1.0, maxNorm / (Math.Sqrt(sumOfSquares) + 1e-6));

    /// <summary>μ·buf + g.</summary>
    public static void SgdMomentum(ReadOnlySpan<float> buf, ReadOnlySpan<float> g, Span<float> y, float momentum) =>
        SimdDriver.Map(new MomentumOperator(momentum), buf, g, y);

    /// <summary>p − lr·(d + wd·p).</summary>
    public static void SgdUpdate(ReadOnlySpan<float> p, ReadOnlySpan<float> d, Span<float> y, float lr, float weightDecay) =>
        SimdDriver.Map(new SgdUpdateOperator(lr, weightDecay), p, d, y);

    /// <summary>β·m + (1 − β)·g (g² when square).</summary>
    public static void AdamMoment(ReadOnlySpan<float> m, ReadOnlySpan<float> g, Span<float> y, float beta, bool square) =>
        SimdDriver.Map(new AdamMomentOperator(beta, square), m, g, y);

    /// <summary>p − lr·(m̂ / (√v̂ + ε) + wd·p), m̂ = m / (1 − β1^step), v̂ = v / (1 − β2^step).</summary>
    public static void AdamUpdate(ReadOnlySpan<float> p, ReadOnlySpan<float> m, ReadOnlySpan<float> v, Span<float> y,
                                  float lr, float step, float beta1, float beta2, float eps, float weightDecay)
    {
        var c1 = (float)(1.0 / (1.0 - Math.Pow(beta1, step)));
        var c2 = (float)(1.0 / (1.0 - Math.Pow(beta2, step)));
        SimdDriver.Map(new AdamUpdateOperator(lr, c1, c2, eps, weightDecay), p, m, v, y);
    }
}
