namespace Alpa.Planner.Inter;

/// <summary>
/// A unit the clustering DP cuts between: one forward node, or one layer the model marked.
/// <see cref="Inputs"/> lists the tensors it reads from earlier atoms, each once.
/// </summary>
/// <param name="Flops">FLOPs of the atom.</param>
/// <param name="HeavyOps">Matmul-class ops in the atom.</param>
/// <param name="Inputs">(producer atom index, tensor id, bytes) of each distinct tensor read from an earlier atom.</param>
public sealed record ClusterAtom(double Flops, int HeavyOps, IReadOnlyList<(int Producer, int Tensor, long Bytes)> Inputs);

/// <summary>An optimal cut of the atoms into layers.</summary>
/// <param name="Starts">Index of the first atom of each layer (Starts[0] = 0).</param>
/// <param name="MaxInputBytes">The largest number of bytes any layer receives from earlier layers (eq. 6's objective).</param>
/// <param name="MaxLayerFlops">Largest layer FLOPs (the tie-breaker).</param>
public sealed record AtomClustering(IReadOnlyList<int> Starts, long MaxInputBytes, double MaxLayerFlops);

public static partial class LayerClustering
{
    /// <summary>
    /// Alpa eq. (6): cut atoms 0..n−1 (topological order) into <paramref name="layers"/> contiguous layers
    /// minimizing the largest bytes a layer receives from earlier layers, each layer with FLOPs ≤
    /// (1 + δ)·mean and ≥ <paramref name="minHeavy"/> heavy ops; ties go to the smaller largest-layer FLOPs
    /// (a second minimax DP over the cuts that reach the best input bound, so the tie-break is exact too).
    /// f(q, r) = min over l of max(f(q − 1, l − 1), in(l, r)) with in(l, r) the bytes atoms l..r read from atoms &lt; l.
    /// Returns null when no cut satisfies the constraints.
    /// </summary>
    public static AtomClustering? Solve(IReadOnlyList<ClusterAtom> atoms, int layers, double delta, int minHeavy)
    {
        var n = atoms.Count;
        if (layers < 1 || layers > n) return null;
        var flopsPrefix = new double[n + 1];
        var heavyPrefix = new int[n + 1];
        for (var a = 0; a < n; a++)
        {
            flopsPrefix[a + 1] = flopsPrefix[a] + atoms[a].Flops;
            heavyPrefix[a + 1] = heavyPrefix[a] + atoms[a].HeavyOps;
        }
        var cap = (1 + delta) * flopsPrefix[n] / layers;
        var input = InputBytes(atoms);
        long In(int l, int r) => input[Tri(n, l, r)];
        bool Ok(int l, int r) => flopsPrefix[r + 1] - flopsPrefix[l] <= cap * (1 + 1e-12) && heavyPrefix[r + 1] - heavyPrefix[l] >= minHeavy;

        // Primary: the least largest input; then, among cuts reaching it, the least largest FLOPs.
        var primary = MinMax(n, layers, Ok, (l, r) => In(l, r));
        if (primary is null) return null;
        var bound = (long)primary.Value.Value;
        var secondary = MinMax(n, layers, (l, r) => Ok(l, r) && In(l, r) <= bound, (l, r) => flopsPrefix[r + 1] - flopsPrefix[l])!;
        return new AtomClustering(secondary.Value.Starts, bound, secondary.Value.Value);
    }

    /// <summary>
    /// Minimax DP over contiguous cuts: f(q, r) = min over l of max(f(q − 1, l − 1), cost(l, r)) for allowed
    /// layers (l, r). Returns the optimum and the first atom of each layer, or null when no cut is allowed.
    /// </summary>
    private static (double Value, int[] Starts)? MinMax(int n, int layers, Func<int, int, bool> allowed, Func<int, int, double> cost)
    {
        var f = new double[layers + 1, n];
        var from = new int[layers + 1, n];
        for (var q = 0; q <= layers; q++)
            for (var r = 0; r < n; r++) f[q, r] = double.PositiveInfinity;
        for (var r = 0; r < n; r++)
            if (allowed(0, r)) f[1, r] = cost(0, r);
        for (var q = 2; q <= layers; q++)
            for (var r = q - 1; r < n; r++)
                for (var l = q - 1; l <= r; l++)
                {
                    if (double.IsPositiveInfinity(f[q - 1, l - 1]) || !allowed(l, r)) continue;
                    var v = Math.Max(f[q - 1, l - 1], cost(l, r));
                    if (v < f[q, r]) { f[q, r] = v; from[q, r] = l; }
                }
        if (double.IsPositiveInfinity(f[layers, n - 1])) return null;
        var starts = new int[layers];
        for (int q = layers, r = n - 1; q >= 1; q--)
        {
            starts[q - 1] = from[q, r];
            r = from[q, r] - 1;
        }
        return (f[layers, n - 1], starts);
    }

    /// <summary>in(l, r) for every l ≤ r, packed upper-triangular: bytes of distinct tensors from atoms &lt; l read by atoms l..r.</summary>
    private static long[] InputBytes(IReadOnlyList<ClusterAtom> atoms)
    {
        var n = atoms.Count;
        var result = new long[(long)n * (n + 1) / 2];
        var maxTensor = atoms.SelectMany(a => a.Inputs).Select(e => e.Tensor).DefaultIfEmpty(0).Max();
        var seen = new int[maxTensor + 1];
        Array.Fill(seen, -1);
        for (var l = 0; l < n; l++)
        {
            long sum = 0;
            for (var r = l; r < n; r++)
            {
                foreach (var (producer, tensor, bytes) in atoms[r].Inputs)
                {
                    if (producer >= l || seen[tensor] == l) continue;
                    seen[tensor] = l;
                    sum += bytes;
                }
                result[Tri(n, l, r)] = sum;
            }
        }
        return result;
    }

    private static long Tri(int n, int l, int r) => (long)l * n - (long)l * (l - 1) / 2 + (r - l);
}
