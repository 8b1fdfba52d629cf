using System.Text.Json;
using Alpa.Client.Transport;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution.Cluster;
using Alpa.Tests.Cli;
using Alpa.Tests.Execution.Pipeline;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Checkpoints of any cluster layout (issue 14): 2 real silo processes × cpu:2 train gpt-tiny on one (2, 2)-mesh stage
/// spanning both, saving in the background every 2 steps (each silo writes only the blocks of its own ranks, replicated
/// blocks once). The checkpoint of step 4 then resumes on the same layout (exact, ≤ 1e-6), on two stages sharing one
/// silo plus a (1, 2)-mesh stage on the other (which saves step 5, resumed on the spanning layout), and on a single
/// process (<c>alpa train --resume</c>), each within 1e-4 of an uninterrupted run; a single-process checkpoint resumes
/// on the spanning layout.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class SpanningCheckpointTests(ITestOutputHelper output)
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private const int Steps = 6;
    private const int Saved = 4;
    private const string Model = "gpt-tiny";
    /// <summary>The Adam ε of cluster jobs (<see cref="ClusterJob.Training"/>); <c>alpa train</c> defaults to 1e-8.</summary>
    private const string AdamEpsilon = "1e-6";

    [Fact]
    public async Task SavedOnASpanningMesh_ResumesOnOtherLayouts_AndSingleProcessCheckpointsResumeOnIt()
    {
        await using var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new[] { cluster.Membership["static:".Length..], TestCluster.NewAddress() };
        foreach (var a in addresses) await cluster.StartAsync(a, 2);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync(addresses[0]);
        var silos = addresses.Order(StringComparer.Ordinal).ToList();
        var directory = Path.Combine(cluster.Directory, "span-checkpoints");
        output.WriteLine($"{_clock.Elapsed.TotalSeconds,5:F1} s silos up");
        var reference = Spanning("reference", silos).Reference().Losses;

        // Spanning layout, uninterrupted, checkpoints of steps 2, 4 and 6 written while the next steps run.
        var spanning = Spanning("span-save", silos);
        Assert.Equal(2, spanning.SilosOfStage(0).Count);
        var (losses, overlapped) = await TrainSavingAsync(client, spanning, directory);
        Assert.True(overlapped, "a background commit finished before the next step ran: the save blocked training");
        Assert.Equal([6L, 4L], CheckpointStore.Committed(directory).Select(c => c.Step));
        var manifest = Checkpoint.Open(CheckpointStore.StepDirectory(directory, Saved)).Manifest;
        Assert.Contains(manifest.Files, f => f.Name == "stage-000-rank-00003.bin");
        Assert.Equal(manifest.Tensors.Sum(t => TileGeometry.Count(t.Shape)) * 4, manifest.Files.Sum(f => f.Bytes)); // each block once
        Compare("spanning, uninterrupted", losses, reference, 0, 1e-4);
        File.Delete(Path.Combine(CheckpointStore.StepDirectory(directory, Steps), CheckpointManifest.FileName));
        var step4 = CheckpointStore.StepDirectory(directory, Saved);

        Compare("same spanning layout", await ResumeAsync(client, Spanning("span-same", silos), step4, Saved), losses, Saved, 1e-6);
        var shared = ClusterJob.Create("span-shared", Model, silos, 2, Steps, 2, seed: 0, new ClusterLayout
        {
            Plan = PipelineFixture.Plan(Model, PipelineFixture.Cluster(2, 2), [(1, 1, 1, 1), (1, 1, 1, 1), (1, 2, 1, 2)], 2, PipelineSchedule.OneFOneB),
        });
        Assert.Equal(shared.SilosOfStage(0), shared.SilosOfStage(1));
        var savedShared = Path.Combine(cluster.Directory, "shared-checkpoints");
        Compare("2 stages on one silo + 1 on the other", await ResumeAsync(client, shared, step4, Saved, savedShared), reference, Saved, 1e-4);
        Compare("saved on 2 stages on one silo → spanning", await ResumeAsync(client, Spanning("span-back", silos), CheckpointStore.StepDirectory(savedShared, 5), 5),
                reference, 5, 1e-4);
        ResumeOnOneProcess(directory);

        // The CLI: `train --connect --stages 1 --checkpoint-dir` checkpoints the spanning layout.
        var viaCli = Path.Combine(cluster.Directory, "cli-checkpoints");
        var (cliCode, _, cliErr) = InProcessCli.Run("train", "--connect", addresses[0], "--secret-file", cluster.SecretFile!, "--model", Model, "--stages", "1",
                                                    "--steps", "4", "--checkpoint-dir", viaCli, "--checkpoint-every", "2", "--json");
        Assert.True(cliCode == 0, cliErr);
        output.WriteLine($"{_clock.Elapsed.TotalSeconds,5:F1} s train --connect --stages 1 --checkpoint-dir");
        Assert.Equal([4L, 2L], CheckpointStore.Committed(viaCli).Select(c => c.Step));
        Assert.Contains(Checkpoint.Open(CheckpointStore.StepDirectory(viaCli, 4)).Manifest.Files, f => f.Name == "stage-000-rank-00003.bin");

        // The other way: a single process (local:1x2) saves, the spanning layout resumes.
        var local = Path.Combine(cluster.Directory, "local-checkpoints");
        var (code, _, err) = InProcessCli.Run("train", "--model", Model, "--adam-eps", AdamEpsilon, "--cluster", "local:1x2", "--steps", $"{Steps}", "--checkpoint-dir", local, "--checkpoint-every", "2", "--json");
        Assert.True(code == 0, err);
        Compare("single process → spanning", await ResumeAsync(client, Spanning("span-load", silos), CheckpointStore.StepDirectory(local, Saved), Saved), reference, Saved, 1e-4);
    }

    /// <summary>One stage whose (2, 2) mesh spans both silos (cpu:2 each).</summary>
    private static ClusterJob Spanning(string id, IReadOnlyList<string> silos) =>
        ClusterJob.Create(id, Model, silos, 2, Steps, 2, seed: 0, new ClusterLayout { Stages = 1 });

    /// <summary>
    /// Trains every step, saving every 2 in the background; returns the losses and whether a commit was still in flight when
    /// the step after its save had run (its rename waits, up to 30 s, for that step: a blocking save would wait the whole time).
    /// </summary>
    private static async Task<(List<double> Losses, bool Overlapped)> TrainSavingAsync(IGrainFactory client, ClusterJob job, string directory)
    {
        var stepAfterSave = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var overlapped = false;
        var options = new ClusterCheckpointOptions
        {
            Directory = directory, Every = 2, Keep = 2,
            FaultHook = f =>
            {
                if (f.Point == CheckpointFaultPoint.BeforeManifestRename && f.Step == 2) overlapped = stepAfterSave.Task.Wait(TimeSpan.FromSeconds(30));
            },
        };
        var checkpointer = new ClusterCheckpointer(options);
        var driver = new ClusterJobDriver(client, job);
        var losses = new List<double>();
        try
        {
            await driver.LoadAsync();
            for (var step = 0; step < job.Steps; step++)
            {
                losses.Add(await driver.RunStepAsync(step));
                if (step == 2) stepAfterSave.TrySetResult();
                await checkpointer.AfterStepAsync(driver, step + 1, job.Steps);
            }
            await checkpointer.FlushAsync();
        }
        finally
        {
            await driver.ReleaseAsync();
        }
        Assert.Equal([2L, 4, 6], checkpointer.Saved.Select(s => s.Step));
        return (losses, overlapped);
    }

    /// <summary>
    /// Restores <paramref name="stepDirectory"/> (of <paramref name="from"/> steps) on <paramref name="job"/>'s layout and trains the
    /// remaining steps, saving them into <paramref name="saveInto"/> when given (blocking saves: every step of this layout is saved); their losses.
    /// </summary>
    private static async Task<List<double>> ResumeAsync(IGrainFactory client, ClusterJob job, string stepDirectory, int from, string? saveInto = null)
    {
        var driver = new ClusterJobDriver(client, job);
        var checkpointer = saveInto is null ? null : new ClusterCheckpointer(new ClusterCheckpointOptions { Directory = saveInto, Every = 1, Background = false });
        try
        {
            await driver.LoadAsync();
            var replies = await driver.RestoreShardsAsync(stepDirectory);
            Assert.All(replies, r => Assert.Equal(from, r.Step));
            var losses = new List<double>();
            for (var step = from; step < job.Steps; step++)
            {
                losses.Add(await driver.RunStepAsync(step));
                if (checkpointer is not null) await checkpointer.AfterStepAsync(driver, step + 1, job.Steps);
            }
            return losses;
        }
        finally
        {
            await driver.ReleaseAsync();
        }
    }

    /// <summary>
    /// <c>alpa train --resume</c> on one device (with the cluster jobs' Adam ε): continues from step 4 and, by its own
    /// <c>--check</c>, its losses and final parameters match an uninterrupted run within 1e-4.
    /// </summary>
    private void ResumeOnOneProcess(string directory)
    {
        var (code, stdout, stderr) = InProcessCli.Run("train", "--model", Model, "--adam-eps", AdamEpsilon, "--steps", $"{Steps}", "--resume", directory, "--check", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(Saved, doc.RootElement.GetProperty("start_step").GetInt32());
        var check = doc.RootElement.GetProperty("check");
        var (loss, param) = (check.GetProperty("max_loss_rel_diff").GetDouble(), check.GetProperty("max_param_rel_diff").GetDouble());
        output.WriteLine($"{_clock.Elapsed.TotalSeconds,5:F1} s one process --resume: loss {loss:E2}, parameters {param:E2} (worst {check.GetProperty("worst_parameter").GetString()})");
        Assert.True(loss <= 1e-4 && param <= 1e-4, stdout);
    }

    /// <summary>Per-step relative loss difference of <paramref name="losses"/> (steps <paramref name="from"/> + 1 …) against <paramref name="expected"/>.</summary>
    private void Compare(string what, IReadOnlyList<double> losses, IReadOnlyList<double> expected, int from, double tolerance)
    {
        var worst = losses.Select((l, i) => Math.Abs(l - expected[from + i]) / Math.Abs(expected[from + i])).Max();
        output.WriteLine($"{_clock.Elapsed.TotalSeconds,5:F1} s {what}: {losses.Count} steps, worst loss difference {worst:E2}");
        Assert.True(worst <= tolerance, $"{what}: loss differs by {worst:E2} (tolerance {tolerance:E0})");
    }

    private void Compare(string what, IReadOnlyList<double> losses, IReadOnlyList<float> expected, int from, double tolerance) =>
        Compare(what, losses, [.. expected.Select(x => (double)x)], from, tolerance);
}
