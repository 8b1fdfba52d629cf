using System.Text.Json;
using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.Membership;
using Alpa.Silo.Jobs;
using Microsoft.Extensions.Logging.Abstractions;

namespace Alpa.Tests.Dashboard;

/// <summary>Jobs across silos without processes: the <c>"all"</c> silo count, the cluster runner's refusals, the schedule text.</summary>
public sealed class ClusterJobUnitTests
{
    private static readonly string[] Silos = ["127.0.0.1:7001", "127.0.0.1:7002"];

    [Fact]
    public void SilosAcceptsAllAndANumber_AndWritesAllBack()
    {
        var spec = JsonSerializer.Deserialize<JobSpec>("""{"model":"gpt-tiny","cluster":{"silos":"all","devices":1}}""", AlpaJson.Options)!;
        Assert.Equal(ClusterRequest.AllSilos, spec.Cluster.Silos);
        Assert.Contains("\"silos\":\"all\"", JsonSerializer.Serialize(spec, AlpaJson.Options), StringComparison.Ordinal);
        Assert.Equal(2, JsonSerializer.Deserialize<JobSpec>("""{"model":"gpt-tiny","cluster":{"silos":2}}""", AlpaJson.Options)!.Cluster.Silos);
        var bad = Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<JobSpec>("""{"cluster":{"silos":"many"}}""", AlpaJson.Options));
        Assert.Contains("\"all\"", bad.Message, StringComparison.Ordinal);
        JobSpecCheck.Validate(spec);
    }

    [Theory]
    [InlineData("""{"model":"gpt-tiny","cluster":{"silos":3,"devices":1}}""", "cluster.silos is 3, but the cluster has 2 active silo(s) (127.0.0.1:7001, 127.0.0.1:7002); ask for 1 … 2, or \"all\"")]
    [InlineData("""{"model":"gpt-tiny","cluster":{"silos":2,"devices":3}}""", "cluster.devices is 3 per silo, but silo 127.0.0.1:7001 has 2 CPU device(s)")]
    [InlineData("""{"model":"gpt-tiny","optimizer":"sgd","cluster":{"silos":2}}""", "a job across silos trains with adam")]
    [InlineData("""{"modelJson":"{}","cluster":{"silos":"all"}}""", "trains a built-in model")]
    [InlineData("""{"model":"gpt-tiny","batch":3,"cluster":{"silos":2}}""", "leave it out")]
    [InlineData("""{"model":"gpt-tiny","microbatches":3,"cluster":{"silos":2}}""", "does not divide")]
    public void TheClusterRunnerRefusesWhatItCannotRunNamingTheField(string json, string expected)
    {
        var spec = JsonSerializer.Deserialize<JobSpec>(json, AlpaJson.Options)!;
        var e = Assert.Throws<JobException>(() => Router().Validate(spec, ["cpu:0", "cpu:1"]));
        Assert.Equal(GrainErrorKind.BadRequest, e.Kind);
        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OneSiloGoesToTheLocalRunner_MoreOrAllToTheClusterRunner()
    {
        var router = Router();
        router.Validate(new JobSpec { Model = "gpt-tiny", Cluster = new ClusterRequest(2, 2) }, ["cpu:0"]);
        router.Validate(new JobSpec { Model = "gpt-tiny", Cluster = new ClusterRequest(ClusterRequest.AllSilos, 1) }, ["cpu:0"]);
        var local = Assert.Throws<JobException>(() => router.Validate(new JobSpec { Model = "gpt-tiny", Cluster = new ClusterRequest(1, 2) }, ["cpu:0"]));
        Assert.Contains("this silo has 1 CPU device(s)", local.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheScheduleTextListsEveryInstructionButFree()
    {
        var job = ClusterJob.Create("schedule", "gpt-tiny", Silos, 1, 2, 2, seed: 0);
        var programs = InstructionEmitter.Emit(PlanJson.Read(job.PlanJson));
        var first = ClusterJobView.Schedule(programs[0]).Split(' ');
        var last = ClusterJobView.Schedule(programs[1]).Split(' ');
        Assert.Equal(programs[0].Instructions.Count(i => i is not Free), first.Length);
        Assert.Equal(["F0", "S0>1", "F1", "S1>1"], first[..4]);
        Assert.Equal("U", first[^1]);
        Assert.Equal("R0<0", last[0]);
        Assert.Equal(2, last.Count(t => t.StartsWith('B')));
        Assert.Equal(programs[1].Instructions.Count, ClusterJobView.Counts(programs[1]).Values.Sum());
    }

    [Fact]
    public void AWorkersEventsMoveOntoTheDriversClock_EndingWhenItsReplyArrived()
    {
        var reply = new StepReply("j", 0, 1, 0.4, 0, [new TimelineEvent("d", "w", 1, "recv", 0, 0.1, 0.2), new TimelineEvent("d", "w", 1, "forward", 0, 0.2, 0.5)]);
        var moved = ClusterJobView.OnDriverClock(reply, 1.0).Events!;
        Assert.Equal([(0.6, 0.7), (0.7, 1.0)], moved.Select(e => (Math.Round(e.StartSeconds, 9), Math.Round(e.EndSeconds, 9))));
        var untimed = reply with { Events = null };
        Assert.Same(untimed, ClusterJobView.OnDriverClock(untimed, 1.0));
        Assert.Equal(0.1, ClusterJobView.OnDriverClock(reply, 0.3).Events![0].StartSeconds); // never earlier than the worker measured
    }

    private static RoutedJobRunner Router()
    {
        var view = new MembershipView();
        view.Publish(new MembershipSnapshot([.. Silos.Select(Entry)], 1));
        var self = new SiloIdentity(Silos[0], ["cpu:0", "cpu:1"], "c", insecure: true);
        return new RoutedJobRunner(new LocalJobRunner(NullLogger<LocalJobRunner>.Instance),
            new ClusterJobRunner(self, view, new GrainFactory(new NoCalls()), NullLogger<ClusterJobRunner>.Instance));
    }

    private static MembershipEntry Entry(string address) => new()
    {
        Address = address, Epoch = 1, DataPort = 1, Devices = ["cpu:0", "cpu:1"], Status = SiloStatus.Active,
        LastHeartbeat = DateTimeOffset.UtcNow, StartedAt = DateTimeOffset.UtcNow,
    };

    /// <summary>Checking a spec makes no grain call; one would fail the test.</summary>
    private sealed class NoCalls : IGrainCallSink
    {
        public Task<object?> InvokeAsync(GrainCall call, object? request, CancellationToken cancellationToken) =>
            throw new InvalidOperationException($"validation called {call.Grain.Name}");
    }
}
