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
    private readonly Dictionary<ProblemEdge, double> _edgeMin = [];
    private long _visits;
    private int[]? _minPeakChoice;

    public BruteForceSolver(IntraProblem p, long limit)
    {
        _p = p;
        _limit = limit;
        var n = p.Variables;
        _closing = [.. Enumerable.Range(0, n).Select(_ => new List<ProblemEdge>())];
        foreach (var e in p.Edges)
        {
            _closing[Math.Max(e.U, e.V)].Add(e);
            _edgeMin[e] = e.Cost.Cast<double>().Min();
        }
        _memTerms = [.. Enumerable.Range(0, n).Select(_ => new List<(int, double[])>())];
        for (var r = 0; r < p.MemoryRows.Count; r++)
            foreach (var (v, bytes) in p.MemoryRows[r].Terms) _memTerms[v].Add((r, bytes));
    }

    /// <summary>Minimizes time under the budget; null when no plan fits it.</summary>
    public SolverOutcome? Solve(double? budgetBytes)
    {
        var cap = _p.MemoryRows.Select(r => (budgetBytes ?? double.PositiveInfinity) - r.ConstantBytes).ToArray();
        if (cap.Any(c => c < 0)) return null;
        // Proving infeasibility by the time search alone would visit every assignment.
        var best = double.PositiveInfinity;
        int[]? bestChoice = null;
        if (budgetBytes is not null)
        {
            if (MinimumPeakMemory() > budgetBytes.Value) return null;
            // The least-memory plan fits: it bounds the search from the start.
            (best, bestChoice) = (_p.Objective(_minPeakChoice!), _minPeakChoice);
        }
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
            // Cheapest choices first (ties by index), so good plans bound the search early.
            var local = new double[_p.Counts[v]];
            for (var k = 0; k < local.Length; k++)
            {
                choice[v] = k;
                local[k] = _p.Cost[v][k];
                foreach (var e in _closing[v]) local[k] += e.At(choice[e.U], choice[e.V]);
            }
            var order = Enumerable.Range(0, local.Length).OrderBy(k => local[k]).ThenBy(k => k).ToArray();
            foreach (var k in order)
            {
                choice[v] = k;
                var c = cost + local[k];
                if (c + Bound(v + 1, choice) >= best) continue;
                if (!Charge(v, k, used, cap)) { Uncharge(v, k, used); continue; }
                Visit(v + 1, c);
                Uncharge(v, k, used);
            }
        }
        Visit(0, 0);
        return bestChoice is null ? null : new SolverOutcome(bestChoice, _p.Objective(bestChoice), true, 0, 0, 0, _visits);
    }

    /// <summary>
    /// Lower bound on the cost of variables from <paramref name="first"/> on: each takes its cheapest
    /// choice given the already chosen neighbours; edges between two open variables add their minimum.
    /// </summary>
    private double Bound(int first, int[] choice)
    {
        var total = 0.0;
        for (var w = first; w < _p.Variables; w++)
        {
            var min = double.PositiveInfinity;
            for (var k = 0; k < _p.Counts[w]; k++)
            {
                var c = _p.Cost[w][k];
                foreach (var e in _closing[w])
                {
                    var other = e.U == w ? e.V : e.U;
                    if (other >= first) continue;
                    c += e.U == w ? e.At(k, choice[e.V]) : e.At(choice[e.U], k);
                }
                min = Math.Min(min, c);
            }
            total += min;
            foreach (var e in _closing[w])
                if ((e.U == w ? e.V : e.U) >= first) total += _edgeMin[e];
        }
        return total;
    }

    /// <summary>The smallest peak memory any plan reaches, bytes.</summary>
    public double MinimumPeakMemory()
    {
        var best = double.PositiveInfinity;
        var used = new double[_p.MemoryRows.Count];
        var constants = _p.MemoryRows.Select(r => r.ConstantBytes).ToArray();
        var choice = new int[_p.Variables];
        double Peak() => used.Length == 0 ? 0 : used.Select((u, r) => u + constants[r]).Max();
        void Visit(int v)
        {
            if (++_visits > _limit) throw TooLarge();
            if (Peak() >= best) return;
            if (v == _p.Variables)
            {
                best = Peak();
                _minPeakChoice = (int[])choice.Clone();
                return;
            }
            var order = Enumerable.Range(0, _p.Counts[v]).OrderBy(k => _memTerms[v].Sum(t => t.Bytes[k])).ThenBy(k => k);
            foreach (var k in order)
            {
                choice[v] = k;
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
