using System.Diagnostics;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Jobs;
using Alpa.Client.Transport;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Jobs submitted through the SDK that ask for more than one silo, on two real <c>alpa silo</c>
/// processes: the accepting silo drives one pipeline stage per silo; the events are those of a local
/// job; the losses are those of <c>alpa train --connect</c> with the same seed; asking for more silos
/// than exist is refused; cancel stops the job; a SIGKILLed silo fails it naming that silo.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ClusterJobsTests(ITestOutputHelper output)
{
    private const int Steps = 3;

    /// <summary>Silos that wait 10 s (the most allowed) before declaring a silent peer dead: a loaded test machine must not fail the job (the kill below is seen by the workers' calls).</summary>
    internal static readonly Dictionary<string, string> Patient = new() { ["ALPA_Silo__DeadAfter"] = "00:00:10" };

    [Fact]
    public async Task AJobOnAllSilos_TrainsLikeTrainConnect_CancelsAndFailsNamingADeadSilo()
    {
        await using var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new[] { cluster.Membership["static:".Length..], TestCluster.NewAddress() };
        foreach (var a in addresses) await cluster.StartAsync(a, 1, Patient);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync(addresses[0]);

        var refused = await Assert.ThrowsAsync<JobException>(() => client.SubmitAsync(new JobSpec { Model = "gpt-tiny", Cluster = new ClusterRequest(3, 1) }));
        Assert.Equal(GrainErrorKind.BadRequest, refused.Kind);
        Assert.Contains("cluster.silos is 3, but the cluster has 2 active silo(s)", refused.Message, StringComparison.Ordinal);
        var cli = await TestCluster.RunAlpaAsync(null, "submit", "--connect", addresses[0], "--secret-file", cluster.SecretFile!, "--model", "gpt-tiny", "--silos", "3");
        Assert.Equal((1, $"alpa: {refused.Message}"), (cli.Code, cli.Stderr.Trim()));

        var id = await client.SubmitAsync(new JobSpec
        {
            Model = "gpt-tiny", Steps = Steps, Microbatches = 2, Seed = 3, Cluster = new ClusterRequest(ClusterRequest.AllSilos, 1),
        });
        var events = new List<JobEvent>();
        await foreach (var e in client.WatchAsync(id)) events.Add(e);
        Assert.True(events[^1].Kind == JobEventKinds.Finished, $"{events[^1].Kind}: {events[^1].Message}\n{cluster.Logs()}");
        Assert.Equal(["queued", "planned", "step", "step", "step", "finished"], events.Select(e => e.Kind));
        var plan = events[1].Plan!;
        Assert.Equal(addresses, plan.Stages.Select(s => s.Worker));
        Assert.Equal(addresses.Select(a => $"{a}/cpu:0"), plan.Stages.SelectMany(s => s.Devices));
        var losses = events.Where(e => e.Kind == JobEventKinds.Step).Select(e => e.Loss!.Value).ToList();
        Assert.All(events.Where(e => e.Kind == JobEventKinds.Step), e => Assert.True(e.ItemsPerSecond > 0));

        var metrics = await client.GetMetricsAsync(id);
        Assert.Equal(losses, metrics.Steps.Select(s => s.Loss));
        Assert.Equal(2, metrics.Steps[^1].StageSeconds!.Count);
        Assert.Equal(addresses, metrics.Timeline.Select(e => e.Worker).Distinct());
        Assert.Contains(metrics.Timeline, e => e.Kind == "recv" && e.Worker == addresses[1]);
        var info = await client.GetJobAsync(id);
        Assert.Equal((JobStates.Done, addresses[0]), (info.State, info.Silo));

        var connect = await TestCluster.RunAlpaAsync(null, "train", "--connect", addresses[0], "--secret-file", cluster.SecretFile!,
            "--model", "gpt-tiny", "--steps", $"{Steps}", "--microbatches", "2", "--seed", "3", "--json");
        Assert.True(connect.Code == 0, connect.Stderr);
        var reference = JsonDocument.Parse(connect.Stdout).RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble()).ToList();
        output.WriteLine($"job {string.Join(", ", losses.Select(l => l.ToString("F6")))}; train --connect {string.Join(", ", reference.Select(l => l.ToString("F6")))}");
        Assert.Equal(reference.Count, losses.Count);
        Assert.All(losses.Zip(reference), p => Assert.Equal(p.Second, Math.Round(p.First, 6), 6));

        var cancelled = await StartLongJobAsync(client, seed: 4);
        var answer = await client.CancelAsync(cancelled);
        var last = await LastEventAsync(client, cancelled);
        Assert.Equal(JobEventKinds.Cancelled, last.Kind);
        Assert.Equal(JobStates.Cancelled, (await client.GetJobAsync(cancelled)).State);
        output.WriteLine($"cancel answered {answer.State} at step {answer.Step}: {last.Message}");

        var doomed = await StartLongJobAsync(client, seed: 5);
        var clock = Stopwatch.StartNew();
        cluster.Silos[1].Kill();
        var failed = await LastEventAsync(client, doomed).WaitAsync(TimeSpan.FromSeconds(30));
        output.WriteLine($"failed {clock.ElapsedMilliseconds} ms after SIGKILL: {failed.Message}");
        Assert.Equal(JobEventKinds.Failed, failed.Kind);
        Assert.Contains(addresses[1], failed.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the job failed {clock.Elapsed.TotalSeconds:0.0} s after the kill");
        Assert.Equal(JobStates.Failed, (await client.GetJobAsync(doomed)).State);
    }

    /// <summary>Submits a job on both silos that would run for long and returns once its first step is done.</summary>
    private static async Task<string> StartLongJobAsync(AlpaClient client, int seed)
    {
        var id = await client.SubmitAsync(new JobSpec { Model = "gpt-tiny", Steps = 100_000, Microbatches = 2, Seed = seed, Cluster = new ClusterRequest(2, 1) });
        await foreach (var e in client.WatchAsync(id))
        {
            Assert.False(e.Kind is JobEventKinds.Finished or JobEventKinds.Failed or JobEventKinds.Cancelled, e.Message);
            if (e.Kind == JobEventKinds.Step) break;
        }
        return id;
    }

    private static async Task<JobEvent> LastEventAsync(AlpaClient client, string id)
    {
        JobEvent? last = null;
        await foreach (var e in client.WatchAsync(id)) last = e;
        return last!;
    }
}
