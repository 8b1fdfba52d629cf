using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Spmd;
using Xunit.Abstractions;

namespace Alpa.Tests.Spmd;

/// <summary>moe-tiny and wresnet-tiny: trained sharded when the plan is executable, else refused up front with the node named.</summary>
public sealed class SpmdOtherModelsTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("moe-tiny", 1, 4)]
    [InlineData("moe-tiny", 2, 2)]
    [InlineData("wresnet-tiny", 1, 4)]
    [InlineData("wresnet-tiny", 2, 2)]
    public void IlpPlanTrainsLikeOneDeviceOrIsRefused(string model, int n0, int n1)
    {
        // wresnet-tiny zero-initializes the last γ of each residual branch, so the branch's gradients
        // start at exactly zero and Adam amplifies their rounding noise: SGD with momentum is compared.
        var (m, t) = model == "moe-tiny" ? SpmdFixture.Build(model)
            : (ModelZoo.Get(model).Build(), TrainingGraph.Build(ModelZoo.Get(model).Build(), new TrainingOptions { Optimizer = new Sgd { Momentum = 0.9 } }));
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        SpmdCheckResult r;
        try
        {
            r = SpmdCheck.Run(m, t, plan, seed: 3, steps: 10, learningRate: model == "moe-tiny" ? 1e-3f : 0.05f);
        }
        catch (SpmdException e)
        {
            output.WriteLine($"{model} ({n0}, {n1}) refused: {e.Message}");
            Assert.False(string.IsNullOrEmpty(e.Field));
            return;
        }
        output.WriteLine($"{model} on ({n0}, {n1}): loss rel diff {r.MaxLossRelDiff:E2}, param rel diff {r.MaxParamRelDiff:E2} ({r.WorstParameter})");
        Assert.True(r.MaxLossRelDiff < 1e-4 && r.MaxParamRelDiff < 1e-4, $"{r.MaxLossRelDiff} / {r.MaxParamRelDiff} at {r.WorstParameter}");
    }
}
