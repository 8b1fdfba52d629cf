using Alpa.Planner.Pipeline;
using Xunit.Abstractions;

namespace Alpa.Tests.Execution.Pipeline;

/// <summary>Pipelines executed by mesh workers train exactly like one device (10 steps, ≤ 1e-4).</summary>
public sealed class PipelineTrainingTests(ITestOutputHelper output)
{
    private const double Tolerance = 1e-4;

    [Theory]
    [InlineData("mlp", 2, PipelineSchedule.OneFOneB)]
    [InlineData("mlp", 2, PipelineSchedule.GPipe)]
    [InlineData("mlp", 4, PipelineSchedule.OneFOneB)]
    [InlineData("mlp", 4, PipelineSchedule.GPipe)]
    [InlineData("gpt-tiny", 2, PipelineSchedule.OneFOneB)]
    [InlineData("gpt-tiny", 2, PipelineSchedule.GPipe)]
    [InlineData("gpt-tiny", 4, PipelineSchedule.OneFOneB)]
    [InlineData("gpt-tiny", 4, PipelineSchedule.GPipe)]
    [InlineData("moe-tiny", 2, PipelineSchedule.OneFOneB)]
    [InlineData("moe-tiny", 2, PipelineSchedule.GPipe)]
    [InlineData("moe-tiny", 4, PipelineSchedule.OneFOneB)]
    [InlineData("moe-tiny", 4, PipelineSchedule.GPipe)]
    public void PipelineOfSingleDevicesTrainsLikeOneDevice(string model, int stages, PipelineSchedule schedule)
    {
        var cluster = PipelineFixture.Cluster(1, stages);
        var plan = PipelineFixture.Plan(model, cluster, [.. Enumerable.Repeat((1, 1, 1, 1), stages)], 4, schedule);
        Expect(PipelineFixture.Check(model, plan, cluster), $"{model} {stages} stages {schedule}");
    }

    /// <summary>
    /// Batch norm normalizes over the microbatch, so wresnet-tiny equals full-batch training on one
    /// device only with one microbatch: its stages still run through RECV/SEND, stash and FREE.
    /// </summary>
    [Theory]
    [InlineData(2, PipelineSchedule.OneFOneB)]
    [InlineData(2, PipelineSchedule.GPipe)]
    [InlineData(4, PipelineSchedule.OneFOneB)]
    [InlineData(4, PipelineSchedule.GPipe)]
    public void WideResNetPipelineTrainsLikeOneDevice(int stages, PipelineSchedule schedule)
    {
        var cluster = PipelineFixture.Cluster(1, stages);
        var plan = PipelineFixture.Plan("wresnet-tiny", cluster, [.. Enumerable.Repeat((1, 1, 1, 1), stages)], 1, schedule);
        Assert.Equal(stages, plan.Stages.Count);
        Expect(PipelineFixture.Check("wresnet-tiny", plan, cluster), $"wresnet-tiny {stages} stages");
    }

    /// <summary>Two stages of (1×2) meshes on local:1x4: pipeline × data × operator parallelism.</summary>
    [Fact]
    public void PipelineOfTwoMeshesMixesAllThreeParallelisms()
    {
        var cluster = PipelineFixture.Cluster(1, 4);
        var plan = PipelineFixture.Plan("gpt-tiny", cluster, [(1, 2, 2, 1), (1, 2, 1, 2)], 2, PipelineSchedule.OneFOneB);
        foreach (var st in plan.Stages)
            output.WriteLine($"stage {st.FirstLayer}-{st.LastLayer} mesh {st.LogicalMesh}: split params {st.ParameterSpecs.Count(p => p.Value.Any(d => d != "R"))}/{st.ParameterSpecs.Count}, step collectives {st.Collectives.Count}");
        Assert.Contains(plan.Stages, st => st.Collectives.Count > 0);
        Assert.Contains(plan.Stages, st => st.ParameterSpecs.Values.Any(spec => spec.Any(d => d != "R")));
        var r = PipelineFixture.Check("gpt-tiny", plan, cluster);
        // The data-parallel stage reduces its parameter gradients once per step (deferred to the COLLECTIVEs), not per microbatch.
        Assert.Contains(r.Runner.Workers, w => w.Runtime.DeferredCollectives > 0);
        Expect(r, "gpt-tiny 2×(1×2)");
    }

    [Fact]
    public void AutomaticPlanOnTwoByTwoTrainsLikeOneDevice()
    {
        var cluster = PipelineFixture.Cluster(2, 2);
        var plan = Alpa.Planner.Planning.AutoPlanner.Plan(Alpa.Planner.Models.ModelZoo.Get("gpt-tiny"), cluster,
            new Alpa.Planner.Planning.AutoPlanOptions { Training = PipelineFixture.Training("gpt-tiny"), Remat = false }).Plan;
        output.WriteLine($"auto: {plan.Stages.Count} stages, B = {plan.Microbatches}, meshes {string.Join(" ", plan.Stages.Select(s => s.LogicalMesh))}");
        Expect(PipelineFixture.Check("gpt-tiny", plan, cluster), "gpt-tiny auto on local:2x2");
    }

    private void Expect(PipelineFixture.CheckOutcome r, string what)
    {
        using var runner = r.Runner;
        output.WriteLine($"{what}: loss {r.LossDiff:G3}, params {r.ParamDiff:G3} ({r.Worst})");
        Assert.True(r.LossDiff <= Tolerance && r.ParamDiff <= Tolerance, $"{what}: loss {r.LossDiff:G3}, {r.Worst} {r.ParamDiff:G3}");
    }
}
