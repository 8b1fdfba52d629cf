namespace Alpa.Tests.Kernels;

/// <summary>Random data and the comparison rule: relative norm error ‖a − b‖ / ‖b‖ against a float64 reference.</summary>
internal static class Ref
{
    /// <summary>Typical f32 tolerance of a kernel against float64.</summary>
    public const double Tol = 1e-5;

    public static float[] Randn(Random rng, long n, double scale = 1.0)
    {
        var a = new float[n];
        for (var i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale * 1.7320508);
        return a;
    }

    public static int[] Ints(Random rng, long n, int max)
    {
        var a = new int[n];
        for (var i = 0; i < n; i++) a[i] = rng.Next(max);
        return a;
    }

    public static double[] D(float[] a) => [.. a.Select(v => (double)v)];

    public static double RelErr(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        Assert.Equal(expected.Length, actual.Length);
        double num = 0, den = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        return den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
    }

    public static void Close(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected, double tol = Tol, string what = "")
    {
        var e = RelErr(actual, expected);
        Assert.True(e <= tol, $"{what}: relative error {e:E3} > {tol:E1}");
    }

    public static long[] RandomShape(Random rng, int rank, int max = 6)
    {
        var s = new long[rank];
        for (var i = 0; i < rank; i++) s[i] = rng.Next(1, max + 1);
        return s;
    }

    public static long Count(ReadOnlySpan<long> s)
    {
        long n = 1;
        foreach (var d in s) n *= d;
        return n;
    }

    /// <summary>Row-major strides.</summary>
    public static long[] Strides(ReadOnlySpan<long> s)
    {
        var st = new long[s.Length];
        long acc = 1;
        for (var i = s.Length - 1; i >= 0; i--) { st[i] = acc; acc *= s[i]; }
        return st;
    }

    /// <summary>Multi-index of a flat offset.</summary>
    public static long[] Index(long flat, ReadOnlySpan<long> s)
    {
        var idx = new long[s.Length];
        for (var i = s.Length - 1; i >= 0; i--) { idx[i] = flat % s[i]; flat /= s[i]; }
        return idx;
    }
}
