using Alpa.Planner.Intra;
using Alpa.Silo.Execution.Spmd;
using Xunit.Abstractions;

namespace Alpa.Tests.Spmd;

/// <summary>Sharded training on one mesh equals single-device training (DESIGN §6: per-tensor relative norm).</summary>
public sealed class SpmdTrainingTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("mlp", 1, 4)]
    [InlineData("mlp", 2, 2)]
    [InlineData("gpt-tiny", 1, 4)]
    [InlineData("gpt-tiny", 2, 2)]
    public void IlpPlanTrainsLikeOneDevice(string model, int n0, int n1)
    {
        var (m, t) = SpmdFixture.Build(model);
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        Check(model, m, t, plan);
    }

    private SpmdCheckResult Check(string name, Alpa.Planner.Graph.Graph m, Alpa.Planner.Graph.Graph t, IntraResult plan)
    {
        foreach (var (node, id) in plan.Strategies) output.WriteLine($"  {node}: {id}");
        var r = SpmdCheck.Run(m, t, plan, seed: 3, steps: 10);
        output.WriteLine($"{name} on ({plan.Mesh.N0}, {plan.Mesh.N1}): loss rel diff {r.MaxLossRelDiff:E2}, param rel diff {r.MaxParamRelDiff:E2} ({r.WorstParameter})");
        output.WriteLine($"  losses {string.Join(" ", r.Losses.Select(l => l.ToString("F4")))}");
        Assert.True(r.MaxLossRelDiff < Tolerance, $"loss rel diff {r.MaxLossRelDiff}");
        Assert.True(r.MaxParamRelDiff < Tolerance, $"param rel diff {r.MaxParamRelDiff} at {r.WorstParameter}");
        Assert.True(r.Losses[^1] < r.Losses[0], "training must make progress");
        return r;
    }
}
