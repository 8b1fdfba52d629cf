using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Xunit.Abstractions;

namespace Alpa.Tests.Intra;

/// <summary>The ILP (CBC) finds the same optimum as exhaustive search on random graphs.</summary>
public sealed class IlpVersusBruteForceTests(ITestOutputHelper output)
{
    private static readonly LogicalMesh[] Meshes =
    [
        LogicalMesh.Create(BuiltInClusters.P3(1, 2), 1, 2),
        LogicalMesh.Create(BuiltInClusters.P3(1, 2), 2, 1),
        LogicalMesh.Create(BuiltInClusters.P3(1, 4), 1, 4),
        LogicalMesh.Create(BuiltInClusters.H100(2, 2), 4, 1),
    ];

    [Fact]
    public void IlpEqualsBruteForceOnRandomGraphs()
    {
        var rng = new Random(20220711);
        int binding = 0, infeasible = 0;
        for (var i = 0; i < 210; i++)
        {
            var graph = RandomGraph(rng, out var heavy);
            Assert.True(heavy >= 6);
            var mesh = Meshes[i % Meshes.Length];
            var free = Compare(graph, mesh, null, i);
            var minimum = new BruteForceSolverProbe(graph, mesh).MinimumPeak;
            if (free.PeakMemoryBytes > minimum * (1 + 1e-9))
            {
                var budget = minimum + (free.PeakMemoryBytes - minimum) * rng.NextDouble() * 0.9;
                var r = Compare(graph, mesh, budget, i);
                Assert.True(r.PeakMemoryBytes <= budget * (1 + 1e-9));
                binding++;
            }
            var tooSmall = minimum * 0.9;
            var eb = Assert.Throws<MemoryBudgetException>(() => IntraOpPass.Run(graph, mesh, new IntraOptions { MemoryBudgetBytes = tooSmall, Solver = IntraSolverKind.Brute }));
            var ei = Assert.Throws<MemoryBudgetException>(() => IntraOpPass.Run(graph, mesh, new IntraOptions { MemoryBudgetBytes = tooSmall }));
            Assert.Equal(minimum, eb.MinimumBytes, minimum * 1e-9);
            Assert.Equal(minimum, ei.MinimumBytes, minimum * 1e-6);
            Assert.Contains("needs at least", ei.Message, StringComparison.Ordinal);
            infeasible++;
        }
        output.WriteLine($"210 graphs; {binding} with a binding budget; {infeasible} infeasible budgets");
        Assert.True(binding >= 50);
    }

    private static IntraResult Compare(Graph graph, LogicalMesh mesh, double? budget, int index)
    {
        var brute = IntraOpPass.Run(graph, mesh, new IntraOptions { Solver = IntraSolverKind.Brute, MemoryBudgetBytes = budget });
        var ilp = IntraOpPass.Run(graph, mesh, new IntraOptions { MemoryBudgetBytes = budget });
        Assert.True(ilp.Stats.ProvenOptimal, $"graph {index}: CBC did not prove optimality");
        var tol = 1e-6 * brute.ObjectiveSeconds + 1e-12;
        Assert.True(Math.Abs(ilp.ObjectiveSeconds - brute.ObjectiveSeconds) <= tol,
            $"graph {index} on {mesh} (budget {budget}): ILP {ilp.ObjectiveSeconds} vs brute force {brute.ObjectiveSeconds}");
        return ilp;
    }

    /// <summary>Chains and diamonds of matmul, element-wise, layernorm and softmax; at least 6 matmuls.</summary>
    internal static Graph RandomGraph(Random rng, out int heavy)
    {
        long[] sizes = [4, 8, 12, 6];
        var b = new GraphBuilder();
        var width = sizes[rng.Next(2)];
        var x = b.Input("x", new Shape(8, width));
        var pool = new List<Node> { x };
        heavy = 0;
        var target = 6;
        var step = 0;
        while (heavy < target)
        {
            var cur = pool[^1];
            var h = cur.Shape[1];
            step++;
            switch (rng.Next(8))
            {
                case 0 or 1:
                {
                    var outDim = sizes[rng.Next(sizes.Length)];
                    var w = b.Parameter($"w{step}", new Shape(h, outDim));
                    pool.Add(b.MatMul(cur, w, name: $"mm{step}"));
                    heavy++;
                    break;
                }
                case 2:
                    pool.Add(b.Gelu(cur, $"gelu{step}"));
                    break;
                case 3 when rng.Next(3) == 0:
                    pool.Add(b.LayerNorm(cur, b.Parameter($"g{step}", new Shape(h)), b.Parameter($"b{step}", new Shape(h)), name: $"ln{step}"));
                    break;
                case 3 or 4:
                    pool.Add(b.Softmax(cur, $"softmax{step}"));
                    break;
                default:
                {
                    // A diamond: join with an earlier tensor of the same shape.
                    var same = pool.Where(n => n != cur && n.Shape == cur.Shape).ToList();
                    if (same.Count > 0) pool.Add(b.Add(cur, same[rng.Next(same.Count)], $"join{step}"));
                    break;
                }
            }
        }
        return b.Build([pool[^1]]);
    }

    /// <summary>The least peak memory any plan needs, by exhaustive search.</summary>
    private sealed class BruteForceSolverProbe(Graph graph, LogicalMesh mesh)
    {
        public double MinimumPeak { get; } =
            new BruteForceSolver(new ProblemBuilder(graph, mesh, new IntraOptions()).Build(), 50_000_000).MinimumPeakMemory();
    }
}
