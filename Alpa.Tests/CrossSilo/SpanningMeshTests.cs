using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Training;
using Alpa.Tests.Execution.Pipeline;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// The execution layer of a stage mesh spanning silos, on data planes in one process (real sockets on
/// loopback, no control plane): every silo builds its own <see cref="ClusterStages"/> (only its stages,
/// only its ranks), the stage's collectives run between the silos, and after the steps the parameter
/// blocks of all silos assemble into the one-device result (per tensor ≤ 1e-4).
/// </summary>
public sealed class SpanningMeshTests(ITestOutputHelper output)
{
    /// <param name="stages">Stages on groups of whole silos; 0: a given plan with stages 0 and 1 on one device each of
    /// one silo (their boundary goes through the mailbox) and stage 2 on a (1, 2) mesh of the other.</param>
    /// <remarks>gpt-tiny on one (2, 2) mesh over 2 silos runs as real processes in <see cref="SpanningMeshTrainingTests"/>.</remarks>
    [Theory]
    [InlineData("moe-tiny", 3, 1, 2)]
    [InlineData("gpt-tiny", 2, 2, 0)]
    public async Task SpanningMesh_TrainsLikeOneDevice(string model, int silos, int devices, int stages)
    {
        await using var loopback = await LoopbackSilos.StartAsync(silos);
        var layout = stages > 0 ? new ClusterLayout { Stages = stages } : new ClusterLayout
        {
            Plan = PipelineFixture.Plan(model, PipelineFixture.Cluster(silos, devices), [(1, 1, 1, 1), (1, 1, 1, 1), (1, 2, 1, 2)], 2, PipelineSchedule.OneFOneB),
        };
        var job = ClusterJob.Create($"span-{model}", model, loopback.Addresses, devices, 3, 2, seed: 0, layout);
        var plan = job.ReadPlan();
        if (stages > 0) Assert.Contains(Enumerable.Range(0, plan.Stages.Count), s => job.SilosOfStage(s).Count > 1);
        else
        {
            var shared = Assert.Single(job.SilosOfStage(0));
            Assert.Equal(shared, Assert.Single(job.SilosOfStage(1)));
            Assert.NotEqual(shared, Assert.Single(job.SilosOfStage(2)));
        }
        var parts = Enumerable.Range(0, silos).Select(i => new ClusterStages(job, loopback.Peers(i))).ToList();
        try
        {
            Assert.All(parts, p => Assert.Equal(plan.Stages.Count(st => st.Devices.Any(d => job.SiloOfDevice(d) == loopback.Addresses[parts.IndexOf(p)])), p.Stages.Count));
            var data = new SyntheticData(Alpa.Planner.Models.ModelZoo.Get(model).Build(), job.Seed);
            var losses = new List<double>();
            for (var step = 0; step < job.Steps; step++)
            {
                var batch = job.Microbatches(data, plan.Microbatches, step);
                var results = await Task.WhenAll(parts.Select(p => Task.Run(() => p.RunStepAsync(step, batch, job.LearningRate(step))))).WaitAsync(TimeSpan.FromSeconds(60));
                losses.Add(results.Last(r => r.Loss is not null).Loss!.Value);
            }
            var parameters = ClusterChecks.Assemble(parts.SelectMany(p => p.ReadParameters()));
            var reference = job.Reference();
            var lossDiff = losses.Zip(reference.Losses, (a, b) => Math.Abs(a - b) / Math.Abs(b)).Max();
            var check = ClusterChecks.Compare(parameters, reference.Parameters);
            output.WriteLine($"{model}: {plan.Stages.Count} stage(s) on {string.Join(" | ", Enumerable.Range(0, plan.Stages.Count).Select(s => string.Join("+", job.SilosOfStage(s))))}; " +
                             $"loss diff {lossDiff:E2}, worst parameter {check.WorstTensor} {check.WorstRelative:E2} (max abs {check.MaxAbs:E2}, {check.Tensors} tensors)");
            Assert.True(lossDiff <= 1e-4, $"loss differs by {lossDiff:E2}");
            Assert.True(check.WorstRelative <= 1e-4, $"{check.WorstTensor} differs by {check.WorstRelative:E2}");
        }
        finally
        {
            foreach (var p in parts) p.Dispose();
        }
    }

    [Fact]
    public void LayoutsTheClusterPathCannotRun_AreRefusedWithTheReason()
    {
        var e = Assert.Throws<Alpa.Planner.AlpaException>(() => ClusterJob.Create("bad", "gpt-tiny", ["a:1", "b:2"], 1, 1, 2, 0, new ClusterLayout { Stages = 3 }));
        Assert.Equal("stages", e.Field);
        Assert.Contains("1 … 2", e.Message);
        var oneSilo = ClusterJob.Create("one", "gpt-tiny", ["a:1"], 2, 1, 2, 0, new ClusterLayout { Stages = 1 });
        var mismatch = Assert.Throws<Alpa.Planner.Plans.PlanMismatchException>(() =>
            ClusterJob.Create("two", "gpt-tiny", ["a:1", "b:2"], 2, 1, 2, 0, new ClusterLayout { Plan = oneSilo.ReadPlan() }));
        Assert.Contains("local:2x2", mismatch.Message);
    }
}
