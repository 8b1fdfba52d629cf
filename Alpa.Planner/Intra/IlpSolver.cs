namespace Alpa.Planner.Intra;

/// <summary>
/// The intra-op ILP [Alpa §4.2]: one-hot binaries s_v per variable, continuous edge variables
/// e_uv over (row class, column class) pairs whose row and column sums equal the one-hot choices
/// (so e_uv = s_u s_vᵀ at integral points), and optional memory rows. Objective in microseconds,
/// memory in MiB, for the solver's tolerances. CBC stops at proven optimality or the node limit.
/// </summary>
internal static class IlpSolver
{
    private const double ObjectiveScale = 1e6;
    private const double MemoryScale = 1.0 / (1 << 20);

    /// <summary>Minimizes time under the budget; null when no plan fits it.</summary>
    public static SolverOutcome? Solve(IntraProblem p, double? budgetBytes, int nodeLimit) =>
        Run(p, budgetBytes, minimizePeak: false, nodeLimit);

    /// <summary>The smallest peak memory any plan reaches, bytes.</summary>
    public static double MinimumPeakMemory(IntraProblem p, int nodeLimit) =>
        Run(p, null, minimizePeak: true, nodeLimit)!.Objective;

    private static SolverOutcome? Run(IntraProblem p, double? budgetBytes, bool minimizePeak, int nodeLimit)
    {
        var m = new Model();
        var x = new int[p.Variables][];
        for (var v = 0; v < p.Variables; v++)
        {
            x[v] = new int[p.Counts[v]];
            for (var k = 0; k < p.Counts[v]; k++)
                x[v][k] = m.Column(minimizePeak ? 0 : p.Cost[v][k] * ObjectiveScale, integer: true, upper: 1);
            m.Row(1, 1, x[v].Select(c => (c, 1.0)));
        }
        if (!minimizePeak) AddEdges(m, p, x);
        var peak = minimizePeak ? m.Column(1, integer: false, upper: double.MaxValue) : -1;
        if (budgetBytes is not null || minimizePeak)
        {
            foreach (var row in p.MemoryRows)
            {
                var terms = row.Terms.SelectMany(t => Enumerable.Range(0, t.Bytes.Length)
                    .Where(k => t.Bytes[k] != 0).Select(k => (x[t.Var][k], t.Bytes[k] * MemoryScale))).ToList();
                if (minimizePeak)
                {
                    terms.Add((peak, -1.0));
                    m.Row(double.MinValue, -row.ConstantBytes * MemoryScale, terms);
                }
                else
                {
                    m.Row(double.MinValue, (budgetBytes!.Value - row.ConstantBytes) * MemoryScale, terms);
                }
            }
        }
        var r = m.Solve(nodeLimit);
        if (r is null) return null;
        var choice = new int[p.Variables];
        for (var v = 0; v < p.Variables; v++)
        {
            var best = 0;
            for (var k = 1; k < p.Counts[v]; k++)
                if (r.Values[x[v][k]] > r.Values[x[v][best]]) best = k;
            choice[v] = best;
        }
        var objective = minimizePeak ? p.PeakMemory(choice) : p.Objective(choice);
        return new SolverOutcome(choice, objective, r.ProvenOptimal, r.Gap, m.Columns, m.Rows, r.Nodes);
    }

    private static void AddEdges(Model m, IntraProblem p, int[][] x)
    {
        foreach (var e in p.Edges)
        {
            int nr = e.Cost.GetLength(0), nc = e.Cost.GetLength(1);
            var y = new int[nr, nc];
            for (var r = 0; r < nr; r++)
                for (var c = 0; c < nc; c++) y[r, c] = m.Column(e.Cost[r, c] * ObjectiveScale, integer: false, upper: 1);
            for (var r = 0; r < nr; r++)
            {
                var terms = Enumerable.Range(0, nc).Select(c => (y[r, c], 1.0)).ToList();
                for (var k = 0; k < p.Counts[e.U]; k++) if (e.RowClass[k] == r) terms.Add((x[e.U][k], -1.0));
                m.Row(0, 0, terms);
            }
            for (var c = 0; c < nc; c++)
            {
                var terms = Enumerable.Range(0, nr).Select(r => (y[r, c], 1.0)).ToList();
                for (var k = 0; k < p.Counts[e.V]; k++) if (e.ColClass[k] == c) terms.Add((x[e.V][k], -1.0));
                m.Row(0, 0, terms);
            }
        }
    }

    private sealed record Result(double[] Values, bool ProvenOptimal, double Gap, long Nodes);

    /// <summary>A column-major model handed to CBC in one <c>Cbc_loadProblem</c> call.</summary>
    private sealed unsafe class Model
    {
        private readonly List<double> _obj = [], _upper = [];
        private readonly List<bool> _integer = [];
        private readonly List<List<(int Row, double Value)>> _cols = [];
        private readonly List<double> _rowLo = [], _rowUp = [];

        public int Columns => _obj.Count;
        public int Rows => _rowLo.Count;

        public int Column(double objective, bool integer, double upper)
        {
            _obj.Add(objective);
            _upper.Add(upper);
            _integer.Add(integer);
            _cols.Add([]);
            return _obj.Count - 1;
        }

        public void Row(double lo, double up, IEnumerable<(int Col, double Value)> terms)
        {
            var row = _rowLo.Count;
            _rowLo.Add(lo);
            _rowUp.Add(up);
            foreach (var (c, v) in terms) _cols[c].Add((row, v));
        }

        public Result? Solve(int nodeLimit)
        {
            var n = Columns;
            var start = new int[n + 1];
            for (var c = 0; c < n; c++) start[c + 1] = start[c] + _cols[c].Count;
            var index = new int[start[n]];
            var value = new double[start[n]];
            for (var c = 0; c < n; c++)
                for (var i = 0; i < _cols[c].Count; i++) (index[start[c] + i], value[start[c] + i]) = _cols[c][i];
            var lower = new double[n];
            var upper = _upper.ToArray();
            var obj = _obj.ToArray();
            var rowLo = _rowLo.ToArray();
            var rowUp = _rowUp.ToArray();
            // CBC's C interface keeps process-wide state in its solve driver: one model at a time in
            // the process, whoever calls (stage costs, tests, commands running in parallel).
            lock (s_cbcGate) return SolveLocked(n, start, index, value, lower, upper, obj, rowLo, rowUp, nodeLimit);
        }

        private static readonly object s_cbcGate = new();

        private Result? SolveLocked(int n, int[] start, int[] index, double[] value, double[] lower, double[] upper,
                                    double[] obj, double[] rowLo, double[] rowUp, int nodeLimit)
        {
            // The first native call loads the library: a missing one becomes a typed error there.
            var model = Cbc.Call(Cbc.Cbc_newModel);
            try
            {
                fixed (int* ps = start, pi = index)
                fixed (double* pv = value, pl = lower, pu = upper, po = obj, prl = rowLo, pru = rowUp)
                {
                    Cbc.Cbc_loadProblem(model, n, rowLo.Length, ps, pi, pv, pl, pu, po, prl, pru);
                }
                for (var c = 0; c < n; c++) if (_integer[c]) Cbc.Cbc_setInteger(model, c);
                Cbc.Cbc_setObjSense(model, 1);
                Cbc.Cbc_setLogLevel(model, 0);
                Cbc.Cbc_setParameter(model, "log", "0");
                Cbc.Cbc_setParameter(model, "slog", "0");
                Cbc.Cbc_setMaximumNodes(model, nodeLimit);
                Cbc.Cbc_setAllowableGap(model, 1e-7);
                Cbc.Cbc_setAllowableFractionGap(model, 1e-9);
                Cbc.Cbc_solve(model);
                if (Cbc.Cbc_isProvenInfeasible(model) != 0) return null;
                var sol = Cbc.Cbc_getColSolution(model);
                if (sol == null) return null;
                var values = new double[n];
                for (var c = 0; c < n; c++) values[c] = sol[c];
                var optimal = Cbc.Cbc_isProvenOptimal(model) != 0;
                var objValue = Cbc.Cbc_getObjValue(model);
                var bound = Cbc.Cbc_getBestPossibleObjValue(model);
                var gap = optimal ? 0 : Math.Abs(objValue - bound) / Math.Max(Math.Abs(objValue), 1e-9);
                if (!optimal && Cbc.Cbc_isNodeLimitReached(model) == 0 && !Feasible(values)) return null;
                return new Result(values, optimal, gap, Cbc.Cbc_getNodeCount(model));
            }
            finally
            {
                Cbc.Cbc_deleteModel(model);
            }
        }

        private bool Feasible(double[] values)
        {
            var activity = new double[Rows];
            for (var c = 0; c < Columns; c++)
                foreach (var (r, v) in _cols[c]) activity[r] += v * values[c];
            for (var r = 0; r < Rows; r++)
                if (activity[r] < _rowLo[r] - 1e-6 || activity[r] > _rowUp[r] + 1e-6) return false;
            return true;
        }
    }
}
