using Alpa.Planner.Pipeline;

namespace Alpa.Planner.Inter;

/// <summary>One stage of a DP solution: layers [First, Last] on submesh <see cref="Submesh"/> of the table with its logical mesh <see cref="Mesh"/>.</summary>
public readonly record struct StageChoice(int First, int Last, int Submesh, int Mesh);

/// <summary>What the stage DP looked at and what it pruned.</summary>
public sealed record StageDpReport
{
    /// <summary>Microbatch count B of this run.</summary>
    public int Microbatches { get; init; }
    /// <summary>Candidates in the cost table.</summary>
    public int Candidates { get; init; }
    /// <summary>Candidates the cost model found infeasible (no sharding).</summary>
    public int Infeasible { get; init; }
    /// <summary>Candidates over device memory even as the last stage (s = 1).</summary>
    public int OverMemory { get; init; }
    /// <summary>Distinct t_max values (t_intra of usable candidates).</summary>
    public int TMaxValues { get; init; }
    /// <summary>t_max values solved.</summary>
    public int TMaxEvaluated { get; init; }
    /// <summary>t_max values skipped because they were within ε of the last one solved.</summary>
    public int TMaxPrunedByEpsilon { get; init; }
    /// <summary>t_max values never reached because B · t_max ≥ T* (early stop).</summary>
    public int TMaxCutByEarlyStop { get; init; }
    /// <summary>Inner DP runs (over t_max and per-step thresholds).</summary>
    public int DpRuns { get; init; }
}

/// <summary>The best stages found for one microbatch count.</summary>
public sealed record StageDpResult
{
    public required IReadOnlyList<StageChoice> Stages { get; init; }
    /// <summary>sum(t_i) + (B − 1)·max(t_j) + max_i(sync_i + update_i), seconds.</summary>
    public required double Objective { get; init; }
    public required StageDpReport Report { get; init; }
}

/// <summary>Inputs of the stage DP besides the cost table.</summary>
/// <param name="Hosts">N.</param>
/// <param name="DevicesPerHost">M.</param>
/// <param name="DeviceMemoryBytes">mem_device of the memory check.</param>
/// <param name="Microbatches">B.</param>
/// <param name="Schedule">1F1B (eq. 5 with s stages) or GPipe (all B microbatches live).</param>
/// <param name="Epsilon">Skip a t_max within ε seconds of the last one solved (Alpa's <c>gap</c>); 0 is exact.</param>
public sealed record StageDpInput(int Hosts, int DevicesPerHost, long DeviceMemoryBytes, int Microbatches,
                                  PipelineSchedule Schedule, double Epsilon = 0);

/// <summary>
/// Alpa's stage–mesh DP (Algorithm 1, eqs. 2–5) with a once-per-step term:
/// minimize Σ t_i + (B − 1)·max_j t_j + max_i (sync_i + update_i) over slicings of the L layers into
/// stages and submesh assignments that use all N·M devices, each stage passing its memory check.
/// For every t_max (ascending) and per-step bound u_max, F(s, k, d) is the least Σ t_i of layers k..L−1
/// cut into s stages on d devices using only candidates with t ≤ t_max and u ≤ u_max; the per-step
/// threshold makes the extra max term exact.
/// </summary>
public static partial class StageDp
{
    /// <summary>The best stages, or null when no slicing fits (or none beats <paramref name="bestSoFar"/>).</summary>
    public static StageDpResult? Solve(StageCostTable table, StageDpInput input, double bestSoFar = double.PositiveInfinity) =>
        Solve(table, input, bestSoFar, out _);

    /// <summary>As <see cref="Solve(StageCostTable, StageDpInput, double)"/>, with the report also when nothing was found.</summary>
    public static StageDpResult? Solve(StageCostTable table, StageDpInput input, double bestSoFar, out StageDpReport report)
    {
        var prep = Prepared.From(table, input);
        var best = bestSoFar;
        StageChoice[]? bestStages = null;
        var (evaluated, pruned, cut, runs) = (0, 0, 0, 0);
        var lastSolved = double.NegativeInfinity;
        var tValues = prep.DistinctT();
        for (var n = 0; n < tValues.Length; n++)
        {
            var tMax = tValues[n];
            if (input.Microbatches * tMax >= best) { cut = tValues.Length - n; break; }
            if (tMax - lastSolved < input.Epsilon && n < tValues.Length - 1) { pruned++; continue; }
            lastSolved = tMax;
            evaluated++;
            runs += SolveAt(prep, tMax, ref best, ref bestStages);
        }
        report = prep.Report with
        {
            TMaxValues = tValues.Length, TMaxEvaluated = evaluated, TMaxPrunedByEpsilon = pruned,
            TMaxCutByEarlyStop = cut, DpRuns = runs,
        };
        return bestStages is null ? null : new StageDpResult { Stages = bestStages, Objective = best, Report = report };
    }

    /// <summary>Objective of given stages: Alpa eq. (2) plus the per-step term.</summary>
    public static double Objective(StageCostTable table, IReadOnlyList<StageChoice> stages, int microbatches)
    {
        double sum = 0, max = 0, step = 0;
        foreach (var st in stages)
        {
            var c = table[st.First, st.Last, st.Submesh, st.Mesh];
            sum += c.DpSeconds;
            max = Math.Max(max, c.DpSeconds);
            step = Math.Max(step, c.StepSeconds);
        }
        return sum + (microbatches - 1) * max + step;
    }

    /// <summary>Solves at one t_max for every useful per-step bound; returns the number of DP runs.</summary>
    private static int SolveAt(Prepared prep, double tMax, ref double best, ref StageChoice[]? bestStages)
    {
        var runs = 1;
        var free = prep.Run(tMax, double.PositiveInfinity);
        if (free is null) return runs;
        var sumFree = Sum(prep, free);
        Consider(prep, free, ref best, ref bestStages);
        var uFree = free.Max(s => prep.U(s));
        foreach (var uMax in prep.DistinctU(tMax))
        {
            if (uMax >= uFree) break;
            // A solution first seen at this bound has max t = t_max (smaller ones were seen before) and max u = u_max.
            if (sumFree + (prep.B - 1) * tMax + uMax >= best) break;
            runs++;
            var sol = prep.Run(tMax, uMax);
            if (sol is not null) Consider(prep, sol, ref best, ref bestStages);
        }
        return runs;
    }

    private static double Sum(Prepared prep, StageChoice[] stages) => stages.Sum(prep.T);

    private static void Consider(Prepared prep, StageChoice[] stages, ref double best, ref StageChoice[]? bestStages)
    {
        var value = Sum(prep, stages) + (prep.B - 1) * stages.Max(prep.T) + stages.Max(prep.U);
        if (value < best)
        {
            best = value;
            bestStages = stages;
        }
    }
}
