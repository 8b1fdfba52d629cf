using Alpa.Planner.Intra;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;
using Xunit.Abstractions;

namespace Alpa.Tests.Spmd;

/// <summary>
/// The SPMD runtime's measured peak of live bytes per device against the planner's predicted peak
/// (the ILP's memory rows) for the plan the planner picks: within 10% on every device. A runtime that
/// keeps buffers longer than the plan assumes (e.g. every new parameter and optimizer moment until the
/// end of the step), or replicates what the plan shards, fails here.
/// </summary>
public sealed class SpmdMemoryTests(ITestOutputHelper output)
{
    private const double Tolerance = 0.10;

    [Theory]
    [InlineData("mlp", 1, 4)]
    [InlineData("mlp", 2, 2)]
    [InlineData("gpt-tiny", 1, 4)]
    [InlineData("gpt-tiny", 2, 2)]
    [InlineData("moe-tiny", 1, 4)]
    [InlineData("moe-tiny", 2, 2)]
    [InlineData("wresnet-tiny", 1, 4)]
    [InlineData("wresnet-tiny", 2, 2)]
    public void MeasuredPeakIsWithinTenPercentOfThePrediction(string model, int n0, int n1)
    {
        var (m, t) = SpmdFixture.Build(model);
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(n0, n1));
        var data = new SyntheticData(m, 3);
        using var runner = new SpmdStepRunner(m, t, plan, seed: 3);
        for (var s = 0; s < 2; s++) runner.TrainStep(data.Batch(s), 1e-3f, s + 1);
        var measured = runner.LastStep!.PeakLiveBytes;
        var predicted = plan.PeakMemoryBytes;
        output.WriteLine($"{model} on ({n0}, {n1}): predicted peak {predicted:F0} B, measured [{string.Join(", ", measured)}] B, " +
                         $"persistent {SpmdPrediction.PersistentBytes(t, plan):F0} B");
        Assert.All(measured, b => Assert.True(Math.Abs(b - predicted) <= Tolerance * predicted,
            $"measured peak {b} B is {b / predicted:F3}× the predicted {predicted:F0} B"));
    }
}
