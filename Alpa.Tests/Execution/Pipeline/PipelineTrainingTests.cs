using Alpa.Planner.Pipeline;
using Xunit.Abstractions;

namespace Alpa.Tests.Execution.Pipeline;

/// <summary>Pipelines executed by mesh workers train exactly like one device (10 steps, ≤ 1e-4).</summary>
public sealed class PipelineTrainingTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("mlp", 2, PipelineSchedule.OneFOneB)]
    [InlineData("mlp", 4, PipelineSchedule.GPipe)]
    [InlineData("gpt-tiny", 2, PipelineSchedule.GPipe)]
    [InlineData("gpt-tiny", 4, PipelineSchedule.OneFOneB)]
    [InlineData("moe-tiny", 2, PipelineSchedule.OneFOneB)]
    [InlineData("moe-tiny", 4, PipelineSchedule.GPipe)]
    public void PipelineOfSingleDevicesTrainsLikeOneDevice(string model, int stages, PipelineSchedule schedule)
    {
        var cluster = PipelineFixture.Cluster(1, stages);
        var plan = PipelineFixture.Plan(model, cluster, [.. Enumerable.Repeat((1, 1, 1, 1), stages)], 4, schedule);
        var r = PipelineFixture.Check(model, plan, cluster);
        using var runner = r.Runner;
        output.WriteLine($"{model} {stages} stages {schedule}: loss {r.LossDiff:G3}, params {r.ParamDiff:G3} ({r.Worst})");
        Assert.True(r.LossDiff <= Tolerance && r.ParamDiff <= Tolerance, $"loss {r.LossDiff:G3}, {r.Worst} {r.ParamDiff:G3}");
    }
}
