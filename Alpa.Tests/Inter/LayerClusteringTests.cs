using Alpa.Planner.Graph;
using Alpa.Planner.Inter;

namespace Alpa.Tests.Inter;

public sealed class LayerClusteringTests
{
    [Fact]
    public void DpEqualsBruteForceOnRandomChains()
    {
        var rng = new Random(99);
        var solved = 0;
        for (var instance = 0; instance < 300; instance++)
        {
            var n = rng.Next(3, 10);
            var atoms = RandomChain(n, rng);
            var layers = rng.Next(1, Math.Min(n, 4) + 1);
            var minHeavy = rng.Next(0, 3);
            var expected = BruteForce(atoms, layers, 0.5, minHeavy);
            var actual = LayerClustering.Solve(atoms, layers, 0.5, minHeavy);
            if (expected is null) { Assert.Null(actual); continue; }
            solved++;
            Assert.NotNull(actual);
            Assert.Equal(expected.Value.Bytes, actual.MaxInputBytes);
            Assert.Equal(expected.Value.Flops, actual.MaxLayerFlops, 9);
            Assert.Equal((expected.Value.Bytes, expected.Value.Flops), Evaluate(atoms, actual.Starts));
        }
        Assert.True(solved >= 150, $"only {solved} feasible instances");
    }

    private static List<ClusterAtom> RandomChain(int n, Random rng)
    {
        var bytes = Enumerable.Range(0, n).Select(_ => (long)rng.Next(1, 100)).ToArray();
        var atoms = new List<ClusterAtom>();
        for (var a = 0; a < n; a++)
        {
            var inputs = new List<(int, int, long)>();
            if (a > 0) inputs.Add((a - 1, a - 1, bytes[a - 1]));
            for (var p = 0; p < a - 1; p++)
                if (rng.NextDouble() < 0.25) inputs.Add((p, p, bytes[p]));
            atoms.Add(new ClusterAtom(rng.Next(1, 10), rng.Next(0, 3), inputs));
        }
        return atoms;
    }

    private static (long Bytes, double Flops)? BruteForce(List<ClusterAtom> atoms, int layers, double delta, int minHeavy)
    {
        var n = atoms.Count;
        var cap = (1 + delta) * atoms.Sum(a => a.Flops) / layers;
        (long, double)? best = null;
        for (var mask = 0; mask < 1 << (n - 1); mask++)
        {
            if (System.Numerics.BitOperations.PopCount((uint)mask) != layers - 1) continue;
            var starts = new List<int> { 0 };
            for (var i = 0; i < n - 1; i++) if ((mask >> i & 1) == 1) starts.Add(i + 1);
            var ok = true;
            for (var l = 0; l < layers && ok; l++)
            {
                var end = l + 1 < layers ? starts[l + 1] : n;
                var group = atoms.Skip(starts[l]).Take(end - starts[l]).ToArray();
                ok = group.Sum(a => a.Flops) <= cap * (1 + 1e-12) && group.Sum(a => a.HeavyOps) >= minHeavy;
            }
            if (!ok) continue;
            var value = Evaluate(atoms, starts);
            if (best is null || value.Bytes < best.Value.Item1 || (value.Bytes == best.Value.Item1 && value.Flops < best.Value.Item2)) best = value;
        }
        return best;
    }

    private static (long Bytes, double Flops) Evaluate(List<ClusterAtom> atoms, IReadOnlyList<int> starts)
    {
        long maxBytes = 0;
        double maxFlops = 0;
        for (var l = 0; l < starts.Count; l++)
        {
            var end = l + 1 < starts.Count ? starts[l + 1] : atoms.Count;
            var tensors = new Dictionary<int, long>();
            double flops = 0;
            for (var a = starts[l]; a < end; a++)
            {
                flops += atoms[a].Flops;
                foreach (var (p, t, b) in atoms[a].Inputs) if (p < starts[l]) tensors[t] = b;
            }
            maxBytes = Math.Max(maxBytes, tensors.Values.Sum());
            maxFlops = Math.Max(maxFlops, flops);
        }
        return (maxBytes, maxFlops);
    }

    [Fact]
    public void MlpIsCutIntoBalancedLayersAtNarrowTensors()
    {
        var graph = TestGraphs.Mlp(layers: 6, batch: 8, hidden: 16);
        var result = LayerClustering.Cluster(graph, new LayerClusteringOptions { Layers = 2, MinHeavyOpsPerLayer = 3 });
        Assert.Equal(2, result.LayerCount);
        var forward = graph.Nodes.Where(n => n.Phase == Phase.Forward && !n.IsLeaf).ToArray();
        var layerOf = forward.Select(n => result.NodeLayer[n.Id]).ToArray();
        Assert.Equal(layerOf.Order(), layerOf);
        Assert.Equal(3, forward.Count(n => n.Op == OpKind.MatMul && result.NodeLayer[n.Id] == 0));
        // One activation [8, 16] f32 crosses the cut.
        Assert.Equal(8 * 16 * 4, result.TransferBytes(0, 1));
        Assert.Equal(8 * 16 * 4, result.MaxInputBytes);
        foreach (var p in graph.Parameters) Assert.InRange(result.NodeLayer[p.Id], 0, 1);
    }

    [Fact]
    public void AutomaticLayerCountRespectsHeavyOpsAndMarkedLayersAreUsed()
    {
        var graph = TestGraphs.Mlp(layers: 8, batch: 4, hidden: 8);
        var auto = LayerClustering.Cluster(graph);
        Assert.Equal(2, auto.LayerCount);
        var marked = LayerClustering.Cluster(graph, new LayerClusteringOptions { UseMarkedLayers = true });
        Assert.Equal(8, marked.LayerCount);
        var grouped = LayerClustering.Cluster(graph, new LayerClusteringOptions { UseMarkedLayers = true, Layers = 4, MinHeavyOpsPerLayer = 2 });
        Assert.Equal(4, grouped.LayerCount);
        var tooMany = Assert.Throws<InterOpException>(() => LayerClustering.Cluster(graph, new LayerClusteringOptions { Layers = 4 }));
        Assert.Equal("layers", tooMany.Field);
    }
}

internal static class TestGraphs
{
    /// <summary>A ReLU MLP with one marked layer per matmul and a mean-squared loss.</summary>
    public static Graph Mlp(int layers, int batch, int hidden, string prefix = "")
    {
        var b = new GraphBuilder();
        var x = b.Input(prefix + "x", new Shape(batch, hidden));
        for (var l = 0; l < layers; l++)
        {
            b.Layer = l;
            using (b.Scope($"{prefix}layers.{l}"))
            {
                var w = b.Parameter("weight", new Shape(hidden, hidden));
                x = b.Relu(b.MatMul(x, w, name: "fc"), "act");
            }
        }
        b.Layer = -1;
        var loss = b.ReduceMean(b.Mul(x, x, "sq"), name: "loss");
        return b.Build([loss], loss);
    }
}
