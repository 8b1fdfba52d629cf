using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;
using Alpa.Silo.Execution.Spmd;
using Xunit.Abstractions;

namespace Alpa.Tests.Spmd;

/// <summary>
/// Plans forced into unusual strategies (every parameter pinned to a random spec, seeded) still
/// train like one device: the executor must follow whatever the plan says.
/// </summary>
public sealed class SpmdRandomPlanTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("mlp", 2, 2, 1)]
    [InlineData("mlp", 2, 2, 2)]
    [InlineData("mlp", 1, 4, 3)]
    [InlineData("gpt-tiny", 2, 2, 1)]
    [InlineData("gpt-tiny", 2, 2, 2)]
    [InlineData("gpt-tiny", 1, 4, 3)]
    [InlineData("moe-tiny", 2, 2, 1)]
    public void RandomlyPinnedPlanTrainsLikeOneDevice(string model, int n0, int n1, int seed)
    {
        var (m, t) = SpmdFixture.Build(model);
        var mesh = SpmdFixture.Mesh(n0, n1);
        var rng = new Random(seed);
        var pins = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var p in t.Nodes.Where(n => n.Op == OpKind.Parameter))
        {
            var specs = ShardingSpec.All(p.Shape, mesh);
            pins[p.Name] = specs[rng.Next(specs.Count)].ToStrings();
        }
        var plan = IntraOpPass.Run(t, mesh, new IntraOptions { FixedSpecs = pins });
        var r = SpmdCheck.Run(m, t, plan, seed: 5, steps: 3);
        var kinds = r.LastStep.Collectives.GroupBy(c => c.Kind).Select(g => $"{g.Key}×{g.Count()}");
        output.WriteLine($"{model} ({n0}, {n1}) seed {seed}: loss {r.MaxLossRelDiff:E2}, params {r.MaxParamRelDiff:E2} ({r.WorstParameter}); {string.Join(" ", kinds)}");
        Assert.True(r.MaxLossRelDiff < 1e-4, $"loss rel diff {r.MaxLossRelDiff}");
        Assert.True(r.MaxParamRelDiff < 1e-4, $"param rel diff {r.MaxParamRelDiff} at {r.WorstParameter}");
    }
}
