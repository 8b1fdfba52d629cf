namespace Alpa.Silo.Training;

/// <summary>
/// SplitMix64: a small counter-based generator whose stream is a pure function of its key, so a
/// batch of any step can be regenerated from (seed, split, step) alone, on any machine.
/// </summary>
public struct DeterministicRandom
{
    private ulong _state;

    public DeterministicRandom(params ulong[] key)
    {
        ulong s = 0x9E3779B97F4A7C15UL;
        foreach (var k in key) s = Mix(s ^ (k + 0x632BE59BD9B4E019UL));
        _state = s;
    }

    public ulong NextUInt64()
    {
        _state += 0x9E3779B97F4A7C15UL;
        return Mix(_state);
    }

    /// <summary>Uniform in [0, n).</summary>
    public int NextInt(int n) => (int)(NextUInt64() % (ulong)n);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Standard normal (Box–Muller).</summary>
    public double NextNormal()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
