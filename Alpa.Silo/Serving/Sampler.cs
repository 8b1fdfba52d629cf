namespace Alpa.Silo.Serving;

/// <summary>How the next token is drawn from the logits.</summary>
public sealed record SamplingOptions
{
    /// <summary>0 = greedy (argmax, ties to the lowest id); otherwise logits are divided by it before the softmax. Range 0 … 2.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep only the K most likely tokens; 0 = all.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the smallest set of most likely tokens whose probability reaches P (nucleus); 1 = all. Range (0, 1].</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Seed of the request's random stream: same seed, same prompt, same model → same tokens.</summary>
    public ulong Seed { get; init; }
}

/// <summary>Greedy, temperature, top-k and top-p sampling with a per-request seeded stream.</summary>
public sealed class Sampler(SamplingOptions options)
{
    private ulong _state = options.Seed ^ 0x9E3779B97F4A7C15UL;

    /// <summary>The next token id from one row of logits.</summary>
    public int Next(ReadOnlySpan<float> logits)
    {
        if (options.Temperature == 0) return ArgMax(logits);
        var order = Enumerable.Range(0, logits.Length).ToArray();
        var values = logits.ToArray();
        Array.Sort(order, (a, b) => values[b] != values[a] ? values[b].CompareTo(values[a]) : a.CompareTo(b));
        var keep = options.TopK > 0 ? Math.Min(options.TopK, order.Length) : order.Length;
        var probs = new double[keep];
        double max = values[order[0]], sum = 0;
        for (var i = 0; i < keep; i++) sum += probs[i] = Math.Exp((values[order[i]] - max) / options.Temperature);
        var cumulative = 0.0;
        for (var i = 0; i < keep; i++)
        {
            cumulative += probs[i] / sum;
            if (cumulative >= options.TopP) { keep = i + 1; break; }
        }
        var total = probs.AsSpan(0, keep).ToArray().Sum();
        var u = NextUniform() * total;
        for (var i = 0; i < keep; i++)
        {
            u -= probs[i];
            if (u < 0) return order[i];
        }
        return order[keep - 1];
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        var best = 0;
        for (var i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>SplitMix64: a uniform double in [0, 1).</summary>
    private double NextUniform()
    {
        var z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
