using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Sharding;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Spmd;
using Xunit.Abstractions;

namespace Alpa.Tests.Spmd;

/// <summary>moe-tiny (expert parallelism through all-to-alls) and wresnet-tiny (convolutions, batch norm) under the ILP plan.</summary>
public sealed class SpmdOtherModelsTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    public void MoeIlpPlanTrainsLikeOneDevice(int n0, int n1)
    {
        var (m, t) = SpmdFixture.Build("moe-tiny");
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        var r = Check("moe-tiny", m, t, plan, 1e-3f);
        Assert.Contains(r.LastStep.Collectives, c => c.Kind == CollectiveKind.AllToAll && c.Source == "strategy");
    }

    [Theory]
    [InlineData(1, 4)]
    [InlineData(2, 2)]
    public void WResNetIlpPlanTrainsLikeOneDevice(int n0, int n1)
    {
        // wresnet-tiny zero-initializes the last γ of each residual branch, so the branch's gradients
        // start at exactly zero and Adam amplifies their rounding noise: SGD with momentum is compared.
        var m = ModelZoo.Get("wresnet-tiny").Build();
        var t = TrainingGraph.Build(m, new TrainingOptions { Optimizer = new Sgd { Momentum = 0.9 } });
        Check("wresnet-tiny", m, t, IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1)), 0.05f);
    }

    [Theory]
    [InlineData(1, 4, "S1")]
    [InlineData(2, 2, "S01")]
    public void WResNetDataParallelSynchronizesBatchNorm(int n0, int n1, string batch)
    {
        var m = ModelZoo.Get("wresnet-tiny").Build();
        var t = TrainingGraph.Build(m, new TrainingOptions { Optimizer = new Sgd { Momentum = 0.9 } });
        var pins = SpmdFixture.Pins(t, n => n.Op switch
        {
            Alpa.Planner.Graph.OpKind.Parameter => [.. Enumerable.Repeat("R", n.Shape.Rank)],
            Alpa.Planner.Graph.OpKind.Input when n.Shape.Rank > 0 => [batch, .. Enumerable.Repeat("R", n.Shape.Rank - 1)],
            _ => null,
        });
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1), new IntraOptions { FixedSpecs = pins });
        var splitNorms = t.Nodes.Count(n => n.Op == Alpa.Planner.Graph.OpKind.BatchNorm && plan.NodeStrategies[n.Name].Inputs[0][0] != DimSharding.R);
        output.WriteLine($"batch norms with the batch split: {splitNorms}");
        Assert.True(splitNorms > 0);
        var r = Check("wresnet-tiny/data", m, t, plan, 0.05f);
        var want = SpmdPrediction.Collectives(t, plan);
        foreach (var kind in Enum.GetValues<CollectiveKind>())
        {
            var p = want.Where(c => c.Collective.Kind == kind).Sum(c => c.Collective.Bytes);
            var got = r.LastStep.Collectives.Where(c => c.Kind == kind && c.Source != "strategy-extra").Sum(c => (double)c.LogicalBytes);
            output.WriteLine($"  {kind}: predicted {p:F0} B, measured {got:F0} B");
            Assert.Equal(p, got);
        }
    }

    private SpmdCheckResult Check(string name, Alpa.Planner.Graph.Graph m, Alpa.Planner.Graph.Graph t, IntraResult plan, float lr)
    {
        var r = SpmdCheck.Run(m, t, plan, seed: 3, steps: 10, learningRate: lr);
        output.WriteLine($"{name} on ({plan.Mesh.N0}, {plan.Mesh.N1}): loss rel diff {r.MaxLossRelDiff:E2}, param rel diff {r.MaxParamRelDiff:E2} ({r.WorstParameter})");
        Assert.True(r.MaxLossRelDiff < 1e-4, $"loss rel diff {r.MaxLossRelDiff}");
        Assert.True(r.MaxParamRelDiff < 1e-4, $"param rel diff {r.MaxParamRelDiff} at {r.WorstParameter}");
        return r;
    }
}
