using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Training;

namespace Alpa.Tests.Execution.Pipeline;

/// <summary>What the mesh workers do besides the arithmetic: activation memory, events, failures.</summary>
public sealed class PipelineRuntimeTests
{
    [Theory]
    [InlineData(PipelineSchedule.OneFOneB)]
    [InlineData(PipelineSchedule.GPipe)]
    public void PeakLiveMicrobatchesEqualThePlansMemoryCheck(PipelineSchedule schedule)
    {
        var cluster = PipelineFixture.Cluster(1, 4);
        var plan = PipelineFixture.Plan("mlp", cluster, [.. Enumerable.Repeat((1, 1, 1, 1), 4)], 8, schedule);
        using var runner = Runner("mlp", plan, cluster);
        Step(runner);
        var simulated = PipelineSimulator.Simulate(runner.Plan);
        var step = runner.LastStep!;
        for (var s = 0; s < 4; s++)
        {
            var expected = ScheduleOrder.LiveMicrobatches(schedule, s, 4, 8);
            Assert.Equal(expected, step.Workers[s].PeakLiveMicrobatches);
            Assert.Equal(expected, simulated.Stages[s].PeakLiveMicrobatches);
        }
        // One event per instruction, in list order, each inside the step.
        var programs = InstructionEmitter.Emit(runner.Plan);
        for (var s = 0; s < 4; s++)
        {
            var events = step.Workers[s].Events;
            Assert.Equal(programs[s].Instructions.Count, events.Count);
            Assert.All(events, e => Assert.InRange(e.StartSeconds, 0, e.EndSeconds));
            Assert.Equal(8, events.Count(e => e.Kind == PipelineEventKind.Forward));
            Assert.Single(events, e => e.Kind == PipelineEventKind.Update);
        }
    }

    [Fact]
    public void AFailingWorkerFailsTheStepWithItsNameInsteadOfHanging()
    {
        var cluster = PipelineFixture.Cluster(1, 2);
        var plan = PipelineFixture.Plan("mlp", cluster, [(1, 1, 1, 1), (1, 1, 1, 1)], 2, PipelineSchedule.OneFOneB);
        using var runner = Runner("mlp", plan, cluster);
        using var driver = new PipelineDriver([runner.Workers[0], new FailingWorker()], InstructionEmitter.Emit(runner.Plan),
                                        new PipelineDriverOptions { StepTimeout = TimeSpan.FromSeconds(60) });
        var data = new SyntheticData(ModelZoo.Get("mlp").Build(), 0);
        var e = Assert.Throws<PipelineWorkerException>(() =>
            driver.RunStepAsync(1, Microbatches.Split(data.Batch(0), 2), 1e-3f).GetAwaiter().GetResult());
        Assert.Contains("worker 1 (stage 1", e.Message, StringComparison.Ordinal);
        Assert.Contains("device out of memory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AStepPastItsTimeoutNamesTheWorkersStillRunning()
    {
        var cluster = PipelineFixture.Cluster(1, 2);
        var plan = PipelineFixture.Plan("mlp", cluster, [(1, 1, 1, 1), (1, 1, 1, 1)], 2, PipelineSchedule.OneFOneB);
        using var runner = Runner("mlp", plan, cluster);
        // Worker 1 never starts: worker 0 waits on its RECV until the step times out.
        using var driver = new PipelineDriver([runner.Workers[0], new FailingWorker(hang: true)], InstructionEmitter.Emit(runner.Plan),
                                        new PipelineDriverOptions { StepTimeout = TimeSpan.FromSeconds(2) });
        var data = new SyntheticData(ModelZoo.Get("mlp").Build(), 0);
        var e = Assert.Throws<PipelineWorkerException>(() =>
            driver.RunStepAsync(1, Microbatches.Split(data.Batch(0), 2), 1e-3f).GetAwaiter().GetResult());
        Assert.Contains("did not finish within 2 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("worker 0 (stage 0", e.Message, StringComparison.Ordinal);
    }

    private static PipelineStepRunner Runner(string model, Alpa.Planner.Plans.Plan plan, Alpa.Planner.Cluster.ClusterSpec cluster)
    {
        var spec = ModelZoo.Get(model);
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), PipelineFixture.Training(model));
        return new PipelineStepRunner(spec.Build(), micro, plan, cluster, 0);
    }

    private static void Step(PipelineStepRunner runner)
    {
        var batch = new SyntheticData(ModelZoo.Get("mlp").Build(), 0).Batch(0);
        runner.TrainStep(batch, 1e-3f, 1);
    }

    /// <summary>A worker whose device fails (or which never answers).</summary>
    private sealed class FailingWorker(bool hang = false) : IMeshWorker
    {
        public Task LoadProgramAsync(WorkerLoad load, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public async Task<WorkerStepResult> RunStepAsync(WorkerStep step, CancellationToken cancellationToken = default)
        {
            if (hang) await Task.Delay(Timeout.Infinite, cancellationToken);
            await Task.Delay(200, cancellationToken);
            throw new Alpa.Silo.Execution.ExecutionException("device out of memory");
        }

        public Task ReleaseJobAsync(string jobId, CancellationToken cancellationToken = default) => Task.CompletedTask;
        public void Dispose() { }
    }
}
