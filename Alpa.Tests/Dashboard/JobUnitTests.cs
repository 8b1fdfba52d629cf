using Alpa.Client.Jobs;
using Alpa.Planner.Graph;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Jobs;

namespace Alpa.Tests.Dashboard;

/// <summary>Job pieces without a silo: spec checks, event replay, the step timeline.</summary>
public sealed class JobUnitTests
{
    [Theory]
    [InlineData("""{"steps":5}""", "model")]
    [InlineData("""{"model":"mlp","modelJson":"{}"}""", "exactly one")]
    [InlineData("""{"model":"nope"}""", "not a built-in model")]
    [InlineData("""{"modelJson":"{\"family\":\"gpt\""}""", "modelJson")]
    [InlineData("""{"model":"mlp","steps":0}""", "steps is 0")]
    [InlineData("""{"model":"mlp","optimizer":"lion"}""", "adam or sgd")]
    [InlineData("""{"model":"mlp","data":"s3://x"}""", "synthetic")]
    [InlineData("""{"model":"mlp","cluster":{"silos":-1,"devices":1}}""", "at least 1 silo")]
    [InlineData("""{"model":"mlp","learningRate":-1}""", "learningRate")]
    [InlineData("""{"model":"mlp","checkpoints":{"directory":"/tmp/c"}}""", "checkpoints are for jobs across silos")]
    [InlineData("""{"model":"mlp","cluster":{"silos":2},"checkpoints":{}}""", "checkpoints.directory is missing")]
    [InlineData("""{"model":"mlp","cluster":{"silos":2},"checkpoints":{"directory":"ckpt"}}""", "checkpoints.directory is 'ckpt', a relative path")]
    [InlineData("""{"model":"mlp","cluster":{"silos":"all"},"checkpoints":{"directory":"/c","every":0}}""", "checkpoints.every is 0")]
    [InlineData("""{"model":"mlp","cluster":{"silos":2},"checkpoints":{"directory":"/c","keep":0}}""", "checkpoints.keep is 0")]
    [InlineData("""{"model":"mlp","cluster":{"silos":2},"checkpoints":{"directory":"/c","waitForReplacementSeconds":-1}}""", "checkpoints.waitForReplacementSeconds is -1")]
    [InlineData("""{"model":"mlp","cluster":{"silos":2},"checkpoints":{"directory":"/c","maxRecoveries":5000}}""", "checkpoints.maxRecoveries is 5000")]
    public void MalformedSpecsAreRefusedNamingTheField(string json, string expected)
    {
        var spec = System.Text.Json.JsonSerializer.Deserialize<JobSpec>(json, Alpa.Client.Transport.AlpaJson.Options)!;
        var e = Assert.Throws<JobException>(() => JobSpecCheck.Validate(spec));
        Assert.Equal(Alpa.Client.Transport.GrainErrorKind.BadRequest, e.Kind);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GraphBuiltInCSharpMakesAValidSpec()
    {
        var graph = ModelZoo.Get("mlp").Build();
        var spec = JobSpec.FromGraph(graph, steps: 3);
        JobSpecCheck.Validate(spec);
        Assert.Equal(graph.Nodes.Count, JobSpecCheck.ResolveModel(spec).Build().Nodes.Count);
    }

    [Fact]
    public async Task ReplayNumbersEventsAsTheLiveRunDoes()
    {
        var info = new JobInfo { Id = "job-1", Name = "mlp", State = JobStates.Queued, Silo = "s", Spec = new JobSpec { Model = "mlp", Steps = 2 }, SubmittedAt = DateTimeOffset.UnixEpoch };
        var run = new JobRun(info);
        var plan = new JobPlan { Method = "single-device", Stages = [], ParameterSpecs = new Dictionary<string, string[]>() };
        run.Planned(plan, "samples");
        run.StepDone(new StepMetrics(1, 2.5, 0.1, 10), [], []);
        run.StepDone(new StepMetrics(2, 2.0, 0.1, 10), [], []);
        run.Finish(JobStates.Done, null);
        var live = await run.EventsAsync(0, TimeSpan.Zero, default);
        var replayed = JobEvents.Replay(run.Info, run.Metrics);
        Assert.Equal(live.Events.Select(e => (e.Sequence, e.Kind, e.Step, e.Loss)), replayed.Select(e => (e.Sequence, e.Kind, e.Step, e.Loss)));
        Assert.Equal(["queued", "planned", "step", "step", "finished"], replayed.Select(e => e.Kind));
        Assert.True(live.Final);
        Assert.Equal(10, run.Info.ItemsPerSecond!.Value, 9); // 1 item per step, 2 steps in 0.2 s
    }

    [Fact]
    public async Task ARecoveredRunKeepsEachStepOnceAndItsNotesInOrder()
    {
        var info = new JobInfo { Id = "job-2", Name = "gpt", State = JobStates.Queued, Silo = "s", Spec = new JobSpec { Model = "gpt-tiny", Steps = 3 }, SubmittedAt = DateTimeOffset.UnixEpoch };
        var run = new JobRun(info);
        var plan = new JobPlan { Method = "pipeline", Stages = [], ParameterSpecs = new Dictionary<string, string[]>() };
        run.Planned(plan, "tokens");
        var started = run.Info.StartedAt;
        run.StepDone(new StepMetrics(1, 3.0, 0.1, 10), [], []);
        run.Noted(JobEventKinds.Checkpoint, 1, "checkpoint of step 1 committed");
        run.StepDone(new StepMetrics(2, 2.9, 0.1, 10), [], []);
        run.Noted(JobEventKinds.Died, 2, "silo b died after step 2");
        run.Planned(plan, "tokens");
        run.Noted(JobEventKinds.Restored, 1, "restored step 1");
        run.StepDone(new StepMetrics(2, 2.8, 0.1, 10), [], []);
        run.Noted(JobEventKinds.Resumed, 2, "resumed");
        run.StepDone(new StepMetrics(3, 2.7, 0.1, 10), [], []);
        run.Finish(JobStates.Done, null);

        Assert.Throws<ArgumentException>(() => run.Noted(JobEventKinds.Finished, 3, "not a note"));
        Assert.Equal(started, run.Info.StartedAt);
        Assert.Equal([(1, 3.0), (2, 2.8), (3, 2.7)], run.Metrics.Steps.Select(s => (s.Step, s.Loss)));
        var live = await run.EventsAsync(0, TimeSpan.Zero, default);
        Assert.Equal(["queued", "planned", "step", "checkpoint", "step", "died", "planned", "restored", "step", "resumed", "step", "finished"], live.Events.Select(e => e.Kind));
        var replayed = JobEvents.Replay(run.Info, run.Metrics);
        Assert.Equal(["queued", "planned", "step", "checkpoint", "restored", "step", "died", "resumed", "step", "finished"], replayed.Select(e => e.Kind));
        Assert.Equal(Enumerable.Range(1, replayed.Count).Select(i => (long)i), replayed.Select(e => e.Sequence));
    }

    [Fact]
    public void TimelineFollowsNodeOrderAndPhases()
    {
        var training = TrainingGraph.Build(ModelZoo.Get("mlp").Build(), new TrainingOptions { Optimizer = new Sgd() });
        var seconds = training.Nodes.Select(n => (n.Phase == Phase.Backward ? 2e-3 : 1e-3, n.Phase == Phase.Update ? 5e-4 : 0.0)).ToArray();
        var events = Alpa.Silo.Jobs.StepTimeline.Build(training, seconds, ["cpu:0", "cpu:1"], "silo");
        var first = events.Where(e => e.Device == "cpu:0").ToList();
        Assert.Equal(first.Count * 2, events.Count);
        Assert.Equal(0, first[0].StartSeconds);
        Assert.Equal(seconds.Sum(s => s.Item1), first[^1].EndSeconds, 9);
        for (var i = 1; i < first.Count; i++)
        {
            Assert.Equal(first[i - 1].EndSeconds, first[i].StartSeconds, 12);
            Assert.NotEqual(first[i - 1].Kind, first[i].Kind);
        }
        Assert.Equal(training.Nodes.Count(n => n.Phase == Phase.Backward) * 2e-3, first.Where(e => e.Kind == "backward").Sum(e => e.EndSeconds - e.StartSeconds), 9);
        Assert.Contains(first, e => e.Kind == "collective");
    }
}
