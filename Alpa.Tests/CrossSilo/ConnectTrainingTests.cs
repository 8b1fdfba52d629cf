using System.Diagnostics;
using Alpa.Silo.Execution.Cluster;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// <c>alpa train --connect</c>'s job path between real <c>alpa silo</c> processes: the stages of a
/// pipeline plan run in the mesh worker grains of different silos, boundary tensors crossing the data
/// plane; the losses match one device, and a SIGKILLed worker silo fails the job naming it.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ConnectTrainingTests(ITestOutputHelper output)
{
    [Fact]
    public async Task GptTinyOnTwoSilos_TrainsLikeOneDevice_AndAKilledSiloFailsTheJobNamingIt()
    {
        await using var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new[] { cluster.Membership["static:".Length..], TestCluster.NewAddress() };
        foreach (var a in addresses) await cluster.StartAsync(a, 1);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync(addresses[0]);

        var oneStagePerSilo = new ClusterLayout { Stages = 2 };
        var job = ClusterJob.Create("connect-check", "gpt-tiny", addresses, 1, 3, 2, seed: 0, oneStagePerSilo);
        IReadOnlyList<string> siloOfStage = [.. Enumerable.Range(0, 2).Select(s => Assert.Single(job.SilosOfStage(s)))];
        Assert.Equal(addresses, siloOfStage);
        var driver = new ClusterJobDriver(client, job);
        await driver.LoadAsync();
        var losses = new List<double>();
        for (var step = 0; step < job.Steps; step++) losses.Add(await driver.RunStepAsync(step));
        await driver.ReleaseAsync();
        var reference = job.Reference().Losses;
        var diff = losses.Zip(reference, (a, b) => Math.Abs(a - b) / Math.Abs(b)).Max();
        output.WriteLine($"losses {string.Join(", ", losses.Select(l => l.ToString("F6")))}; one device {string.Join(", ", reference.Select(l => l.ToString("F6")))}; max rel diff {diff:E2}");
        Assert.True(diff <= 1e-4, $"loss differs from one device by {diff:E2}");

        // A long job; the second silo is SIGKILLed after its first steps.
        var longJob = ClusterJob.Create("connect-kill", "gpt-tiny", addresses, 1, 10_000, 2, seed: 1, oneStagePerSilo);
        var longDriver = new ClusterJobDriver(client, longJob);
        await longDriver.LoadAsync();
        await longDriver.RunStepAsync(0);
        var clock = new Stopwatch();
        var run = Task.Run(async () =>
        {
            for (var step = 1; step < longJob.Steps; step++) await longDriver.RunStepAsync(step);
        });
        await Task.Delay(300);
        clock.Start();
        cluster.Silos[1].Kill();
        var error = await Assert.ThrowsAsync<ClusterJobException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        var after = clock.Elapsed;
        output.WriteLine($"job failed {after.TotalMilliseconds:F0} ms after SIGKILL: {error.Message}");
        Assert.Contains(addresses[1], error.Message);
        Assert.True(after < TimeSpan.FromSeconds(10), $"the job failed {after.TotalSeconds:0.0} s after the kill");
        await longDriver.ReleaseAsync();

        // The surviving silo still runs a job.
        var alone = ClusterJob.Create("connect-alone", "gpt-tiny", addresses[..1], 1, 1, 2, seed: 0, new ClusterLayout { Stages = 1 });
        var aloneDriver = new ClusterJobDriver(client, alone);
        await aloneDriver.LoadAsync();
        Assert.True(double.IsFinite(await aloneDriver.RunStepAsync(0)));
        await aloneDriver.ReleaseAsync();
    }
}
