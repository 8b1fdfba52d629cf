namespace Alpa.Planner.Inference;

/// <summary>What the inference stage DP minimizes.</summary>
public enum InferenceObjective
{
    /// <summary>The largest stage latency: the pipeline's steady-state period (Alpa's inference schedule, many requests in flight).</summary>
    Throughput,
    /// <summary>The sum of stage latencies: one request's end-to-end forward time.</summary>
    Latency,
}

/// <summary>Options of <see cref="InferenceStages.Plan"/>.</summary>
public sealed record InferenceStageOptions
{
    /// <summary>Model layers L (stages cover 0 … L − 1 in order).</summary>
    public required int Layers { get; init; }
    /// <summary>Devices of the host; the stages' submeshes use all of them.</summary>
    public required int Devices { get; init; }
    /// <summary>What to minimize.</summary>
    public InferenceObjective Objective { get; init; } = InferenceObjective.Throughput;
    /// <summary>Exact number of stages; null = any.</summary>
    public int? Stages { get; init; }
    /// <summary>Submesh sizes a stage may take (default: powers of two up to <see cref="Devices"/>, Alpa's 1-D submeshes).</summary>
    public IReadOnlyList<int>? SubmeshSizes { get; init; }
}

/// <summary>One forward stage: layers [First, Last] on <see cref="Devices"/> devices.</summary>
public sealed record InferenceStage(int First, int Last, int Devices, double Seconds);

/// <summary>The chosen stages and the objective's value.</summary>
public sealed record InferenceStagePlan(IReadOnlyList<InferenceStage> Stages, double ObjectiveSeconds, InferenceObjective Objective);

/// <summary>
/// Forward-only stage DP for serving: no backward pass and no microbatch term, so Alpa's
/// training objective sum(t) + (B − 1)·max(t) [Alpa eq. 2] splits into its two limits — the period
/// max_i t_i when requests stream through the pipeline (throughput) and Σ t_i for one request
/// (latency). F(k, d) = best objective for layers k … L − 1 on d devices:
/// F(k, d) = min over j ≥ k, s ∈ sizes, s ≤ d of combine(t(k, j, s), F(j + 1, d − s)),
/// combine = max (throughput) or + (latency), F(L, 0) = 0. Ties break toward fewer stages, then
/// the earlier cut, so the result does not depend on evaluation order.
/// </summary>
public static class InferenceStages
{
    /// <summary>Plans stages; <paramref name="seconds"/>(first, last, devices) is a stage's forward latency.</summary>
    public static InferenceStagePlan Plan(InferenceStageOptions options, Func<int, int, int, double> seconds)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(seconds);
        var (l, devices) = (options.Layers, options.Devices);
        if (l <= 0 || devices <= 0)
            throw new AlpaException($"inference stages: layers and devices must be positive, got {l} and {devices}");
        var sizes = options.SubmeshSizes ?? PowersOfTwo(devices);
        var maxStages = options.Stages ?? l;
        var memo = new Dictionary<(int K, int D, int S), (double Value, InferenceStage[]? Stages)>();

        (double Value, InferenceStage[]? Stages) F(int k, int d, int stagesLeft)
        {
            if (k == l) return d == 0 && (options.Stages is null || stagesLeft == 0) ? (0, []) : (double.PositiveInfinity, null);
            if (stagesLeft == 0 || d == 0) return (double.PositiveInfinity, null);
            if (memo.TryGetValue((k, d, stagesLeft), out var hit)) return hit;
            (double Value, InferenceStage[]? Stages) best = (double.PositiveInfinity, null);
            for (var j = k; j < l; j++)
                foreach (var s in sizes)
                {
                    if (s > d) continue;
                    var rest = F(j + 1, d - s, stagesLeft - 1);
                    if (rest.Stages is null) continue;
                    var t = seconds(k, j, s);
                    var value = options.Objective == InferenceObjective.Throughput ? Math.Max(t, rest.Value) : t + rest.Value;
                    if (value < best.Value - 1e-15 || (value <= best.Value + 1e-15 && best.Stages is not null && rest.Stages.Length + 1 < best.Stages.Length))
                        best = (value, [new InferenceStage(k, j, s, t), .. rest.Stages]);
                }
            return memo[(k, d, stagesLeft)] = best;
        }

        var result = F(0, devices, maxStages);
        if (result.Stages is null)
            throw new AlpaException($"inference stages: no way to cut {l} layers into {options.Stages?.ToString() ?? "any number of"} stage(s) using exactly {devices} device(s) with submesh sizes {string.Join("/", sizes)}");
        return new InferenceStagePlan(result.Stages, result.Value, options.Objective);
    }

    private static int[] PowersOfTwo(int devices)
    {
        var sizes = new List<int>();
        for (var s = 1; s <= devices; s *= 2) sizes.Add(s);
        return [.. sizes];
    }
}
