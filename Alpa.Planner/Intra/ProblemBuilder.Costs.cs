using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Intra;

// Costs of the ILP: node costs, resharding edges (compressed to classes), memory rows.
internal sealed partial class ProblemBuilder
{
    private readonly Dictionary<(int U, int V), List<(int[] Row, int[] Col, double[,] M)>> _edgeParts = [];

    public IntraProblem Build()
    {
        var cost = Counts.Select(c => new double[c]).ToArray();
        foreach (var n in _graph.Nodes)
        {
            var v = VarOf[n.Id];
            for (var k = 0; k < Counts[v]; k++) cost[v][k] += Choice[n.Id][k].ComputeSeconds + Choice[n.Id][k].CommSeconds;
            for (var j = 0; j < n.Inputs.Count; j++)
            {
                var input = n.Inputs[j];
                var jj = j;
                Flow(input, n, k => Choice[n.Id][k].Inputs[jj], cost);
            }
        }
        // The new value of a parameter or state is written back to its storage layout every step.
        foreach (var u in _graph.Updates) Flow(u.Value, u.Target, k => Choice[u.Target.Id][k].Output, cost);
        for (var v = 0; v < cost.Length; v++)
            for (var k = 0; k < cost[v].Length; k++) cost[v][k] += TieBreakSeconds * k;
        return new IntraProblem
        {
            Counts = [.. Counts],
            Cost = cost,
            Edges = MergeEdges(cost),
            MemoryRows = MemoryRows(),
        };
    }

    /// <summary>Charges resharding <paramref name="src"/>'s output to what <paramref name="dst"/> needs.</summary>
    private void Flow(Node src, Node dst, Func<int, ShardingSpec> need, double[][] cost)
    {
        int vu = VarOf[src.Id], vv = VarOf[dst.Id];
        double bytes = src.OutputBytes;
        if (vu == vv)
        {
            for (var k = 0; k < Counts[vu]; k++) cost[vu][k] += Reshard(bytes, Choice[src.Id][k].Output, need(k));
            return;
        }
        var (rowClass, rowSpecs) = Classes(Counts[vu], k => Choice[src.Id][k].Output);
        var (colClass, colSpecs) = Classes(Counts[vv], need);
        var m = new double[rowSpecs.Count, colSpecs.Count];
        for (var r = 0; r < rowSpecs.Count; r++)
            for (var c = 0; c < colSpecs.Count; c++) m[r, c] = Reshard(bytes, rowSpecs[r], colSpecs[c]);
        if (vu > vv)
        {
            (vu, vv, rowClass, colClass) = (vv, vu, colClass, rowClass);
            m = Transpose(m);
        }
        if (!_edgeParts.TryGetValue((vu, vv), out var parts)) _edgeParts[(vu, vv)] = parts = [];
        parts.Add((rowClass, colClass, m));
    }

    private static (int[] Class, List<ShardingSpec> Specs) Classes(int count, Func<int, ShardingSpec> spec)
    {
        var index = new Dictionary<ShardingSpec, int>();
        var specs = new List<ShardingSpec>();
        var cls = new int[count];
        for (var k = 0; k < count; k++)
        {
            var s = spec(k);
            if (!index.TryGetValue(s, out var c))
            {
                index[s] = c = specs.Count;
                specs.Add(s);
            }
            cls[k] = c;
        }
        return (cls, specs);
    }

    /// <summary>
    /// Sums the parts of each variable pair into one matrix over joint classes, and folds matrices
    /// that are zero or separable (a[r] + b[c]) into the node costs.
    /// </summary>
    private List<ProblemEdge> MergeEdges(double[][] cost)
    {
        var edges = new List<ProblemEdge>();
        foreach (var ((u, v), parts) in _edgeParts.OrderBy(e => e.Key.U).ThenBy(e => e.Key.V))
        {
            var (rows, nr) = Joint(Counts[u], parts.Select(p => p.Row).ToList());
            var (cols, nc) = Joint(Counts[v], parts.Select(p => p.Col).ToList());
            var m = new double[nr, nc];
            var rowRep = Representatives(rows, nr);
            var colRep = Representatives(cols, nc);
            for (var r = 0; r < nr; r++)
                for (var c = 0; c < nc; c++)
                    foreach (var p in parts) m[r, c] += p.M[p.Row[rowRep[r]], p.Col[colRep[c]]];
            (rows, cols, m) = Compress(rows, cols, m);
            if (Separable(m))
            {
                for (var k = 0; k < Counts[u]; k++) cost[u][k] += m[rows[k], 0];
                for (var k = 0; k < Counts[v]; k++) cost[v][k] += m[0, cols[k]] - m[0, 0];
                continue;
            }
            edges.Add(new ProblemEdge(u, v, rows, cols, m));
        }
        return edges;
    }

    /// <summary>Merges classes whose rows (columns) of the cost matrix are equal.</summary>
    private static (int[] Rows, int[] Cols, double[,] M) Compress(int[] rows, int[] cols, double[,] m)
    {
        int nr = m.GetLength(0), nc = m.GetLength(1);
        var rowMap = Dedupe(nr, r => Enumerable.Range(0, nc).Select(c => m[r, c]));
        var colMap = Dedupe(nc, c => Enumerable.Range(0, nr).Select(r => m[r, c]));
        int nr2 = rowMap.Max() + 1, nc2 = colMap.Max() + 1;
        if (nr2 == nr && nc2 == nc) return (rows, cols, m);
        var m2 = new double[nr2, nc2];
        for (var r = 0; r < nr; r++)
            for (var c = 0; c < nc; c++) m2[rowMap[r], colMap[c]] = m[r, c];
        return ([.. rows.Select(r => rowMap[r])], [.. cols.Select(c => colMap[c])], m2);
    }

    private static int[] Dedupe(int n, Func<int, IEnumerable<double>> vector)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var map = new int[n];
        for (var i = 0; i < n; i++)
        {
            var key = string.Join(',', vector(i).Select(v => BitConverter.DoubleToInt64Bits(v)));
            if (!index.TryGetValue(key, out var c)) index[key] = c = index.Count;
            map[i] = c;
        }
        return map;
    }

    private static (int[] Class, int Count) Joint(int count, List<int[]> partClasses)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var cls = new int[count];
        for (var k = 0; k < count; k++)
        {
            var key = string.Join(',', partClasses.Select(p => p[k]));
            if (!index.TryGetValue(key, out var c)) index[key] = c = index.Count;
            cls[k] = c;
        }
        return (cls, index.Count);
    }

    private static int[] Representatives(int[] cls, int n)
    {
        var rep = new int[n];
        for (var k = cls.Length - 1; k >= 0; k--) rep[cls[k]] = k;
        return rep;
    }

    private static bool Separable(double[,] m)
    {
        int nr = m.GetLength(0), nc = m.GetLength(1);
        for (var r = 1; r < nr; r++)
            for (var c = 1; c < nc; c++)
            {
                var d = m[r, c] - m[r, 0] - m[0, c] + m[0, 0];
                if (Math.Abs(d) > 1e-12 * (Math.Abs(m[r, c]) + Math.Abs(m[0, 0]) + 1e-30)) return false;
            }
        return true;
    }

    private static double[,] Transpose(double[,] m)
    {
        var t = new double[m.GetLength(1), m.GetLength(0)];
        for (var r = 0; r < m.GetLength(0); r++)
            for (var c = 0; c < m.GetLength(1); c++) t[c, r] = m[r, c];
        return t;
    }

    /// <summary>
    /// Live-tensor memory at every point where some tensor is read for the last time (the local
    /// maxima of the live set). Parameters and optimizer state live throughout; update values are
    /// written in place and cost nothing extra.
    /// </summary>
    private List<MemoryRow> MemoryRows()
    {
        var nodes = _graph.Nodes;
        var n = nodes.Count;
        var lastUse = _graph.LastUse;
        var inPlace = new HashSet<Node>(_graph.Updates.Select(u => u.Value));
        foreach (var g in _groups.Values) { inPlace.Add(g.Update); foreach (var m in g.Moments) inPlace.Add(m); }
        var outputs = new HashSet<Node>(_graph.Outputs);
        var end = new int[n];
        var persistent = new List<Node>();
        foreach (var node in nodes)
        {
            if (node.Op is OpKind.Parameter or OpKind.State) persistent.Add(node);
            end[node.Id] = outputs.Contains(node) ? n - 1 : lastUse[node.Id];
        }
        var endsAt = new bool[n];
        foreach (var node in nodes) if (!node.IsLeaf || node.Op is OpKind.Input or OpKind.Constant) endsAt[end[node.Id]] = true;
        endsAt[n - 1] = true;
        var rows = new List<MemoryRow>();
        var live = new SortedSet<int>();
        for (var t = 0; t < n; t++)
        {
            var node = nodes[t];
            if (!(node.Op is OpKind.Parameter or OpKind.State) && !inPlace.Contains(node)) live.Add(t);
            if (!endsAt[t]) continue;
            live.RemoveWhere(id => end[id] < t);
            rows.Add(Row(persistent.Concat(live.Select(id => nodes[id]))));
        }
        return rows;
    }

    private MemoryRow Row(IEnumerable<Node> liveNodes)
    {
        var constant = 0.0;
        var byVar = new SortedDictionary<int, double[]>();
        foreach (var node in liveNodes)
        {
            var v = VarOf[node.Id];
            if (!byVar.TryGetValue(v, out var bytes)) byVar[v] = bytes = new double[Counts[v]];
            for (var k = 0; k < bytes.Length; k++) bytes[k] += Choice[node.Id][k].MemoryBytes;
        }
        var terms = new List<(int, double[])>();
        foreach (var (v, bytes) in byVar)
        {
            var min = bytes.Min();
            constant += min;
            if (bytes.Max() > min) terms.Add((v, [.. bytes.Select(b => b - min)]));
        }
        return new MemoryRow(constant, terms);
    }
}
