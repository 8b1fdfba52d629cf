namespace Alpa.Planner.Intra;

/// <summary>
/// An edge between two ILP variables: the resharding cost when <see cref="U"/> takes strategy ku and
/// <see cref="V"/> takes kv is <c>Cost[RowClass[ku], ColClass[kv]]</c>. Strategies that give the same
/// costs share a class, so the linearized edge variables are over classes, not strategy pairs.
/// </summary>
public sealed record ProblemEdge(int U, int V, int[] RowClass, int[] ColClass, double[,] Cost)
{
    public double At(int ku, int kv) => Cost[RowClass[ku], ColClass[kv]];
}

/// <summary>One memory checkpoint: constant bytes plus per-variable bytes by strategy.</summary>
public sealed record MemoryRow(double ConstantBytes, IReadOnlyList<(int Var, double[] Bytes)> Terms)
{
    public double Evaluate(IReadOnlyList<int> choice)
    {
        var total = ConstantBytes;
        foreach (var (v, bytes) in Terms) total += bytes[choice[v]];
        return total;
    }
}

/// <summary>
/// The intra-op ILP in plain arrays [Alpa §4.2, eq. (1)]: minimize
/// Σ_v c_v·s_v + Σ_(u,v) s_uᵀ R_uv s_v over one-hot choices s_v, subject to every memory row ≤ budget.
/// Costs are seconds and already contain the deterministic tie-break.
/// </summary>
public sealed class IntraProblem
{
    public required int[] Counts { get; init; }
    public required double[][] Cost { get; init; }
    public required IReadOnlyList<ProblemEdge> Edges { get; init; }
    public required IReadOnlyList<MemoryRow> MemoryRows { get; init; }

    public int Variables => Counts.Length;

    public double Objective(IReadOnlyList<int> choice)
    {
        var total = 0.0;
        for (var v = 0; v < Counts.Length; v++) total += Cost[v][choice[v]];
        foreach (var e in Edges) total += e.At(choice[e.U], choice[e.V]);
        return total;
    }

    public double PeakMemory(IReadOnlyList<int> choice)
    {
        var peak = 0.0;
        foreach (var row in MemoryRows) peak = Math.Max(peak, row.Evaluate(choice));
        return peak;
    }
}

/// <summary>What a solver found.</summary>
/// <param name="Choice">Strategy index of every variable.</param>
/// <param name="Objective">Its objective, seconds.</param>
/// <param name="ProvenOptimal">False when a node limit stopped the search first.</param>
/// <param name="Gap">Relative gap between the solution and the best bound (0 when proven optimal).</param>
/// <param name="IlpVariables">Columns of the ILP (0 for brute force).</param>
/// <param name="IlpConstraints">Rows of the ILP (0 for brute force).</param>
/// <param name="SearchNodes">Branch-and-bound nodes (CBC) or assignments visited (brute force).</param>
public sealed record SolverOutcome(int[] Choice, double Objective, bool ProvenOptimal, double Gap,
    int IlpVariables, int IlpConstraints, long SearchNodes);
