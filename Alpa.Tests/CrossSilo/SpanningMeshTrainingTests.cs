using System.Text.Json;
using Alpa.Silo.Execution.Cluster;
using Alpa.Tests.Cli;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Training with a stage mesh spanning silo processes (issue 10's must-show): real <c>alpa silo</c>
/// processes on loopback, the job shipped to their mesh worker grains, 10 steps, then the final
/// parameters (assembled from every silo's blocks) and the losses against one device, per tensor ≤ 1e-4.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class SpanningMeshTrainingTests(ITestOutputHelper output)
{
    /// <summary>2 silos × cpu:2, one stage on a (2, 2) mesh whose rows are the silos; gpt-tiny through the CLI, moe-tiny through the driver.</summary>
    [Fact]
    public async Task TwoSilos_OneMeshSpanningBoth_TrainsLikeOneDevice()
    {
        await using var cluster = await StartAsync(2, 2);
        var first = cluster.Silos[0].Address;
        var (code, stdout, stderr) = InProcessCli.Run("train", "--connect", first, "--secret-file", cluster.SecretFile!, "--model", "gpt-tiny",
                                                     "--stages", "1", "--steps", "10", "--check", "--json");
        output.WriteLine(stderr);
        Assert.True(code == 0, stderr);
        using var report = JsonDocument.Parse(stdout);
        var root = report.RootElement;
        Assert.Equal(2, root.GetProperty("silos_of_stage")[0].GetArrayLength());
        var (loss, param) = (root.GetProperty("max_loss_rel_diff").GetDouble(), root.GetProperty("max_param_rel_diff").GetDouble());
        output.WriteLine($"gpt-tiny CLI: loss {loss:E2}, parameters {param:E2} ({root.GetProperty("worst_param").GetString()})");
        Assert.True(loss <= 1e-4 && param <= 1e-4, $"loss {loss:E2}, parameters {param:E2}");

        await CheckAsync(cluster, "moe-tiny", 2, 2, new ClusterLayout { Stages = 1 });
    }

    /// <summary>
    /// 3 silos × cpu:1, two stages: stage 0 on a mesh spanning silos A and B, stage 1 on silo C; then a silo of
    /// the spanning mesh is SIGKILLed mid-job: the job fails within 10 s naming it, and a survivor still trains.
    /// </summary>
    [Fact]
    public async Task ThreeSilos_StageOnTwoSilosAndStageOnThird_TrainsLikeOneDevice_AndAKilledMeshSiloFailsTheJob()
    {
        await using var cluster = await StartAsync(3, 1);
        await CheckAsync(cluster, "gpt-tiny", 3, 1, new ClusterLayout { Stages = 2 });

        using var client = await cluster.ConnectAsync(cluster.Silos[0].Address);
        var addresses = cluster.Silos.Select(s => s.Address).Order(StringComparer.Ordinal).ToList();
        var job = ClusterJob.Create("span-kill", "gpt-tiny", addresses, 1, 10_000, 2, seed: 1, new ClusterLayout { Stages = 2 });
        var primary = cluster.Silos[0].Address;
        var victim = job.SilosOfStage(0).First(a => a != primary);
        var driver = new ClusterJobDriver(client, job);
        await driver.LoadAsync();
        await driver.RunStepAsync(0);
        var run = Task.Run(async () =>
        {
            for (var step = 1; step < job.Steps; step++) await driver.RunStepAsync(step);
        });
        await Task.Delay(300);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        cluster.Silos.Single(s => s.Address == victim).Kill();
        var error = await Assert.ThrowsAsync<ClusterJobException>(() => run.WaitAsync(TimeSpan.FromSeconds(30)));
        output.WriteLine($"job failed {clock.Elapsed.TotalMilliseconds:F0} ms after SIGKILL of {victim}: {error.Message}");
        Assert.Contains(victim, error.Message);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"the job failed {clock.Elapsed.TotalSeconds:0.0} s after the kill");
        await driver.ReleaseAsync();

        var survivor = primary;
        var alone = ClusterJob.Create("span-alone", "gpt-tiny", [survivor], 1, 1, 2, seed: 0, new ClusterLayout { Stages = 1 });
        var aloneDriver = new ClusterJobDriver(client, alone);
        await aloneDriver.LoadAsync();
        Assert.True(double.IsFinite(await aloneDriver.RunStepAsync(0)));
        await aloneDriver.ReleaseAsync();
    }

    /// <summary>moe-tiny on the 3-silo layout (the always-on in-process <see cref="SpanningMeshTests"/> covers it on data planes).</summary>
    [SlowFact]
    public async Task ThreeSilos_MoeTiny_TrainsLikeOneDevice()
    {
        await using var cluster = await StartAsync(3, 1);
        await CheckAsync(cluster, "moe-tiny", 3, 1, new ClusterLayout { Stages = 2 });
    }

    private static async Task<TestCluster> StartAsync(int silos, int cpus)
    {
        var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new List<string> { cluster.Membership["static:".Length..] };
        while (addresses.Count < silos) addresses.Add(TestCluster.NewAddress());
        foreach (var a in addresses) await cluster.StartAsync(a, cpus);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == silos, TimeSpan.FromSeconds(30));
        return cluster;
    }

    /// <summary>Trains <paramref name="model"/> 10 steps through <see cref="ClusterJobDriver"/> and compares losses and parameters with one device.</summary>
    private async Task CheckAsync(TestCluster cluster, string model, int silos, int devices, ClusterLayout layout)
    {
        using var client = await cluster.ConnectAsync(cluster.Silos[0].Address);
        var addresses = cluster.Silos.Select(s => s.Address).Order(StringComparer.Ordinal).ToList();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var job = ClusterJob.Create($"span-{model}-{silos}", model, addresses, devices, 10, 2, seed: 0, layout);
        var created = clock.Elapsed.TotalSeconds;
        var plan = job.ReadPlan();
        var placement = string.Join(" | ", Enumerable.Range(0, plan.Stages.Count).Select(s => string.Join("+", job.SilosOfStage(s))));
        Assert.Contains(Enumerable.Range(0, plan.Stages.Count), s => job.SilosOfStage(s).Count == 2);
        Assert.Equal(silos, job.WorkerSilos.Count);
        var driver = new ClusterJobDriver(client, job);
        var losses = new List<double>();
        try
        {
            await driver.LoadAsync();
            var loaded = clock.Elapsed.TotalSeconds;
            for (var step = 0; step < job.Steps; step++) losses.Add(await driver.RunStepAsync(step));
            var parameters = await driver.ReadParametersAsync();
            var trained = clock.Elapsed.TotalSeconds;
            var reference = job.Reference();
            output.WriteLine($"{model}: plan {created:F1} s, load {loaded - created:F1} s, 10 steps {trained - loaded:F1} s, one device {clock.Elapsed.TotalSeconds - trained:F1} s");
            var lossDiff = losses.Zip(reference.Losses, (a, b) => Math.Abs(a - b) / Math.Abs(b)).Max();
            var check = ClusterChecks.Compare(parameters, reference.Parameters);
            output.WriteLine($"{model} on {placement}: loss {lossDiff:E2}, worst parameter {check.WorstTensor} {check.WorstRelative:E2} (max abs {check.MaxAbs:E2}, {check.Tensors} tensors)");
            Assert.Equal(reference.Parameters.Count, parameters.Count);
            Assert.True(lossDiff <= 1e-4, $"{model}: loss differs by {lossDiff:E2}");
            Assert.True(check.WorstRelative <= 1e-4, $"{model}: {check.WorstTensor} differs by {check.WorstRelative:E2}");
        }
        finally
        {
            await driver.ReleaseAsync();
        }
    }
}
