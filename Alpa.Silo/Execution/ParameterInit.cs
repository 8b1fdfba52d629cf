using Alpa.Planner.Graph;

namespace Alpa.Silo.Execution;

/// <summary>
/// Deterministic initialization of parameters: each parameter draws from its own SplitMix64
/// stream seeded by (seed, FNV-1a hash of its name), so values do not depend on graph order,
/// the .NET version or the device.
/// </summary>
public static class ParameterInit
{
    public static void Fill(Node parameter, ulong seed, Span<float> values)
    {
        switch (parameter.Attrs.Init)
        {
            case InitKind.Zeros: values.Clear(); break;
            case InitKind.Ones: values.Fill(1f); break;
            default: Normal(values, parameter.Attrs.Value, Mix(seed ^ Fnv1a(parameter.Name))); break;
        }
    }

    /// <summary>Normal(0, std) by Box–Muller over a SplitMix64 stream.</summary>
    public static void Normal(Span<float> values, double std, ulong state)
    {
        for (var i = 0; i < values.Length; i += 2)
        {
            double u1 = Uniform(ref state), u2 = Uniform(ref state);
            var r = Math.Sqrt(-2.0 * Math.Log(u1)) * std;
            values[i] = (float)(r * Math.Cos(2 * Math.PI * u2));
            if (i + 1 < values.Length) values[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2));
        }
    }

    /// <summary>Uniform in (0, 1]: never 0, so the logarithm is finite.</summary>
    private static double Uniform(ref ulong state) => ((Next(ref state) >> 11) + 1) * (1.0 / (1UL << 53));

    private static ulong Next(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Fnv1a(string s)
    {
        var h = 14695981039346656037UL;
        foreach (var c in s)
        {
            h ^= c;
            h *= 1099511628211UL;
        }
        return h;
    }
}
