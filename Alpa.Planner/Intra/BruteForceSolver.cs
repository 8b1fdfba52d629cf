namespace Alpa.Planner.Intra;

/// <summary>
/// Exact search over every choice of every variable (depth-first in variable order, pruned by a
/// lower bound: the cheapest remaining node costs and edge entries, and by the memory rows). The
/// oracle the ILP is tested against; refuses problems larger than its visit limit.
/// </summary>
internal sealed class BruteForceSolver
{
    private readonly IntraProblem _p;
    private readonly long _limit;
    private readonly List<ProblemEdge>[] _closing;
    private readonly List<(int Row, double[] Bytes)>[] _memTerms;
    private readonly double[] _suffixBound;
    private long _visits;

    public BruteForceSolver(IntraProblem p, long limit)
    {
        _p = p;
        _limit = limit;
        var n = p.Variables;
        _closing = [.. Enumerable.Range(0, n).Select(_ => new List<ProblemEdge>())];
        _suffixBound = new double[n + 1];
        foreach (var e in p.Edges)
        {
            var last = Math.Max(e.U, e.V);
            _closing[last].Add(e);
            _suffixBound[last] += e.Cost.Cast<double>().Min();
        }
        for (var v = n - 1; v >= 0; v--) _suffixBound[v] += _suffixBound[v + 1] + p.Cost[v].Min();
        _memTerms = [.. Enumerable.Range(0, n).Select(_ => new List<(int, double[])>())];
        for (var r = 0; r < p.MemoryRows.Count; r++)
            foreach (var (v, bytes) in p.MemoryRows[r].Terms) _memTerms[v].Add((r, bytes));
    }

    /// <summary>Minimizes time under the budget; null when no plan fits it.</summary>
    public SolverOutcome? Solve(double? budgetBytes)
    {
        var cap = _p.MemoryRows.Select(r => (budgetBytes ?? double.PositiveInfinity) - r.ConstantBytes).ToArray();
        if (cap.Any(c => c < 0)) return null;
        var best = double.PositiveInfinity;
        int[]? bestChoice = null;
        var choice = new int[_p.Variables];
        var used = new double[cap.Length];
        void Visit(int v, double cost)
        {
            if (++_visits > _limit) throw TooLarge();
            if (v == _p.Variables)
            {
                if (cost < best) (best, bestChoice) = (cost, (int[])choice.Clone());
                return;
            }
            for (var k = 0; k < _p.Counts[v]; k++)
            {
                choice[v] = k;
                var c = cost + _p.Cost[v][k];
                foreach (var e in _closing[v]) c += e.At(choice[e.U], choice[e.V]);
                if (c + _suffixBound[v + 1] >= best) continue;
                if (!Charge(v, k, used, cap)) { Uncharge(v, k, used); continue; }
                Visit(v + 1, c);
                Uncharge(v, k, used);
            }
        }
        Visit(0, 0);
        return bestChoice is null ? null : new SolverOutcome(bestChoice, _p.Objective(bestChoice), true, 0, 0, 0, _visits);
    }

    /// <summary>The smallest peak memory any plan reaches, bytes.</summary>
    public double MinimumPeakMemory()
    {
        var best = double.PositiveInfinity;
        var used = new double[_p.MemoryRows.Count];
        var constants = _p.MemoryRows.Select(r => r.ConstantBytes).ToArray();
        double Peak() => used.Length == 0 ? 0 : used.Select((u, r) => u + constants[r]).Max();
        void Visit(int v)
        {
            if (++_visits > _limit) throw TooLarge();
            if (Peak() >= best) return;
            if (v == _p.Variables)
            {
                best = Peak();
                return;
            }
            for (var k = 0; k < _p.Counts[v]; k++)
            {
                foreach (var (r, bytes) in _memTerms[v]) used[r] += bytes[k];
                Visit(v + 1);
                foreach (var (r, bytes) in _memTerms[v]) used[r] -= bytes[k];
            }
        }
        Visit(0);
        return best;
    }

    private bool Charge(int v, int k, double[] used, double[] cap)
    {
        var ok = true;
        foreach (var (r, bytes) in _memTerms[v])
        {
            used[r] += bytes[k];
            if (used[r] > cap[r]) ok = false;
        }
        return ok;
    }

    private void Uncharge(int v, int k, double[] used)
    {
        foreach (var (r, bytes) in _memTerms[v]) used[r] -= bytes[k];
    }

    private IntraOpException TooLarge() =>
        new($"the brute-force solver visited more than {_limit} assignments: this graph is too large for --solver brute; use --solver ilp");
}
