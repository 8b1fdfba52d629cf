using System.Diagnostics;
using System.Text.Json;
using Alpa.Client.Contracts;
using Alpa.Silo.Execution.Cluster;
using Alpa.Tests.Cli;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// <c>alpa train --connect</c>'s job path between real <c>alpa silo</c> processes: a DriverGrain (on the
/// silo the client connected to) drives a pipeline plan whose stages run in the mesh worker grains of
/// different silos, boundary tensors crossing the data plane; the losses match one device, a cancel stops
/// after the running step, and a SIGKILLed worker silo fails the job naming it.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ConnectTrainingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task GptTinyOnTwoSilos_TrainsLikeOneDevice_CancelStops_AndAKilledSiloFailsTheJobNamingIt()
    {
        await using var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new[] { cluster.Membership["static:".Length..], TestCluster.NewAddress() };
        foreach (var a in addresses) await cluster.StartAsync(a, 1);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync(addresses[0]);

        // The CLI: PlannerGrain (profiled spec) → DriverGrain on the gateway → steps streamed → --check.
        var (code, stdout, stderr) = InProcessCli.Run("train", "--connect", addresses[0], "--secret-file", cluster.SecretFile!,
            "--model", "gpt-tiny", "--steps", "3", "--microbatches", "2", "--check", "--json");
        output.WriteLine(stderr);
        Assert.True(code == 0, $"train --connect exited {code}: {stderr}");
        var json = JsonDocument.Parse(stdout).RootElement;
        var stageSilos = json.GetProperty("silos_of_stage").EnumerateArray().Select(e => Assert.Single(e.EnumerateArray()).GetString()!).ToArray();
        Assert.Equal(addresses.Order(), stageSilos.Order());
        Assert.Equal(addresses[0], json.GetProperty("driver_silo").GetString());
        Assert.True(json.GetProperty("predicted_step_seconds").GetDouble() > 0);
        Assert.Equal(3, json.GetProperty("losses").GetArrayLength());
        var diff = json.GetProperty("max_loss_rel_diff").GetDouble();
        Assert.True(diff <= 1e-4, $"loss differs from one device by {diff:E2}");
        var parameters = json.GetProperty("max_param_rel_diff").GetDouble();
        Assert.True(parameters <= 1e-4, $"parameters differ from one device by {parameters:E2} ({json.GetProperty("worst_param").GetString()})");
        foreach (var k in new[] { 1, 2, 3 }) Assert.Contains($"step {k}/3: loss", stderr);
        foreach (var a in addresses) Assert.Contains($"{a}: 1 device(s), GEMM", stderr);
        Assert.Contains($"{stageSilos[0]} → {stageSilos[1]}: latency", stderr);

        // The planner again: device profiles (per silo process) and the link are cached, and so is the plan.
        var again = await client.GetGrain<IPlannerGrain>("default").PlanAsync(new PlanRequest("gpt-tiny", stageSilos, 2));
        Assert.True(again.FromCache);
        Assert.All(again.Profile, line => Assert.Contains("(cached)", line));
        Assert.Equal(3, again.Profile.Count);

        // Streaming through the SDK: every step once, in order.
        var job = ClusterJob.Create("connect-stream", "gpt-tiny", addresses, 1, 3, 2, seed: 0);
        var streamed = new List<long>();
        var result = await DriverClient.RunAsync(client, job, s => streamed.Add(s.Step));
        Assert.Equal("done", result.Status.State);
        Assert.Equal([1L, 2, 3], streamed);
        Assert.All(result.Steps, s => Assert.True(s.ItemsPerSecond > 0 && s.StageSeconds.Count == 2));

        // Cancel: the job stops after the step that was running when the cancel arrived.
        var cancelJob = ClusterJob.Create("connect-cancel", "gpt-tiny", addresses, 1, 10_000, 2, seed: 0);
        var driver = client.GetGrain<IDriverGrain>(cancelJob.JobId);
        await driver.StartAsync(new StartJobRequest(cancelJob.JobId, cancelJob.ToJson()));
        await driver.WatchAsync(new DriverWatchRequest(1, 60));
        var answered = await driver.CancelAsync();
        var final = await WaitFinalAsync(driver);
        output.WriteLine($"cancel answered at step {answered.Step}; the job ended '{final.State}' at step {final.Step}");
        Assert.Equal("cancelled", final.State);
        Assert.InRange(final.Step, answered.Step, answered.Step + 1);

        // A long job; the second silo is SIGKILLed after its first steps.
        var longJob = ClusterJob.Create("connect-kill", "gpt-tiny", addresses, 1, 10_000, 2, seed: 1);
        var started = new TaskCompletionSource();
        var run = DriverClient.RunAsync(client, longJob, s => started.TrySetResult());
        await started.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var clock = Stopwatch.StartNew();
        cluster.Silos[1].Kill();
        var error = await Assert.ThrowsAsync<ClusterJobException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        var after = clock.Elapsed;
        output.WriteLine($"job failed {after.TotalMilliseconds:F0} ms after SIGKILL (silo blamed: {error.Silo}): {error.Message}");
        Assert.Contains(addresses[1], error.Message);
        Assert.Equal(addresses[1], error.Silo);
        Assert.True(after < TimeSpan.FromSeconds(10), $"the job failed {after.TotalSeconds:0.0} s after the kill");

        // The surviving silo still runs a job.
        var alone = ClusterJob.Create("connect-alone", "gpt-tiny", addresses[..1], 1, 1, 2, seed: 0);
        var aloneResult = await DriverClient.RunAsync(client, alone);
        Assert.True(double.IsFinite(aloneResult.Steps.Single().Loss));
    }

    private static async Task<JobStatus> WaitFinalAsync(IDriverGrain driver)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var progress = await driver.WatchAsync(new DriverWatchRequest(long.MaxValue, 5));
            if (progress.Status.IsFinal) return progress.Status;
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(60), "the cancelled job did not stop within 60 s");
        }
    }
}
