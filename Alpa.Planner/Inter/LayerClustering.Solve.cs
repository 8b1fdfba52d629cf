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
    /// (1 + δ)·mean and ≥ <paramref name="minHeavy"/> heavy ops; ties go to the smaller largest-layer FLOPs.
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

        // fb/ff: best (bytes, flops) for atoms 0..r in q layers; from: first atom of the q-th layer.
        var fb = new long[layers + 1, n];
        var ff = new double[layers + 1, n];
        var from = new int[layers + 1, n];
        for (var q = 0; q <= layers; q++)
            for (var r = 0; r < n; r++) { fb[q, r] = long.MaxValue; ff[q, r] = double.PositiveInfinity; }
        for (var r = 0; r < n; r++)
            if (Ok(0, r)) { fb[1, r] = 0; ff[1, r] = flopsPrefix[r + 1]; from[1, r] = 0; }
        for (var q = 2; q <= layers; q++)
            for (var r = q - 1; r < n; r++)
                for (var l = q - 1; l <= r; l++)
                {
                    if (fb[q - 1, l - 1] == long.MaxValue || !Ok(l, r)) continue;
                    var b = Math.Max(fb[q - 1, l - 1], In(l, r));
                    var f = Math.Max(ff[q - 1, l - 1], flopsPrefix[r + 1] - flopsPrefix[l]);
                    if (b < fb[q, r] || (b == fb[q, r] && f < ff[q, r])) { fb[q, r] = b; ff[q, r] = f; from[q, r] = l; }
                }
        if (fb[layers, n - 1] == long.MaxValue) return null;
        var starts = new int[layers];
        for (int q = layers, r = n - 1; q >= 1; q--)
        {
            starts[q - 1] = from[q, r];
            r = from[q, r] - 1;
        }
        return new AtomClustering(starts, fb[layers, n - 1], ff[layers, n - 1]);
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
