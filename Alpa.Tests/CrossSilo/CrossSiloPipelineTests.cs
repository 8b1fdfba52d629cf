using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Collectives;
using Alpa.Tests.Execution.Pipeline;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Pipeline stages on different silos: each mesh worker's boundary tensors go over its own silo's
/// data plane (real sockets on loopback), and 10 steps still train like one device (≤ 1e-4).
/// </summary>
public sealed class CrossSiloPipelineTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("gpt-tiny", 2, PipelineSchedule.OneFOneB)]
    [InlineData("moe-tiny", 3, PipelineSchedule.GPipe)]
    public async Task StagesOnDifferentSilos_TrainLikeOneDevice(string model, int stages, PipelineSchedule schedule)
    {
        await using var silos = await LoopbackSilos.StartAsync(stages);
        var cluster = PipelineFixture.Cluster(1, stages);
        var plan = PipelineFixture.Plan(model, cluster, [.. Enumerable.Repeat((1, 1, 1, 1), stages)], 2, schedule);
        var sentBefore = Enumerable.Range(0, stages).Sum(s => silos.Peers(s).Bytes.Sent);
        var outcome = PipelineFixture.Check(model, plan, cluster, 10, s => new DataPlaneBoundaryTransport(silos.Peers(s), silos.Addresses, tag: 9));
        var sent = Enumerable.Range(0, stages).Sum(s => silos.Peers(s).Bytes.Sent) - sentBefore;
        outcome.Runner.Dispose();
        output.WriteLine($"{model} on {stages} silos: loss diff {outcome.LossDiff:E2}, worst parameter {outcome.Worst} {outcome.ParamDiff:E2}, {sent:N0} bytes over the data plane");
        Assert.True(outcome.LossDiff <= 1e-4 && outcome.ParamDiff <= 1e-4, $"{outcome.LossDiff:E2} / {outcome.ParamDiff:E2} ({outcome.Worst})");
        Assert.True(sent > 0, "no boundary tensor crossed the data plane");
    }
}
