using System.Diagnostics;
using System.Text.Json;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Hosting.Bench;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.Checkpoints;

/// <summary>
/// Real <c>alpa train</c> processes killed with SIGKILL in the middle of a save (at injected points
/// and at seeded random moments): no partial checkpoint is ever loaded, and the resumed run follows
/// the uninterrupted run's losses.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class CrashTests(ITestOutputHelper output)
{
    private static readonly string[] Train = ["train", "--model", "mlp", "--steps", "15", "--seed", "1", "--eval-every", "100", "--json"];

    [Theory]
    [InlineData("local:1x2", "after-shards:1@10", 1e-4)] // one mesh of 2 devices: two shard files
    [InlineData("local:1x1", "before-rename@10", 1e-6)]
    public async Task AProcessKilledDuringASaveResumesFromTheLastCommittedCheckpoint(string cluster, string fault, double tolerance)
    {
        using var f = new CheckpointFixture();
        string[] train = [.. Train, "--cluster", cluster, "--method", "intra-only"];
        var reference = Losses((await Alpa(f.Directory, null, train)).Out);
        var killed = await Alpa(f.Directory, fault, [.. train, "--checkpoint-dir", f.Directory, "--checkpoint-every", "5"]);
        Assert.Equal(137, killed.Exit);
        Assert.Contains("killing this process (SIGKILL) at step 10", killed.Err, StringComparison.Ordinal);
        Assert.Equal([5L], CheckpointStore.Committed(f.Directory).Select(c => c.Step));
        var partial = CheckpointStore.StepDirectory(f.Directory, 10);
        Assert.True(Directory.Exists(partial) && !File.Exists(Path.Combine(partial, CheckpointManifest.FileName)));

        var resumed = await Alpa(f.Directory, null, [.. train, "--resume", f.Directory, "--checkpoint-every", "5"]);
        Assert.Equal(0, resumed.Exit);
        using var doc = JsonDocument.Parse(resumed.Out);
        Assert.Equal(5, doc.RootElement.GetProperty("start_step").GetInt32());
        Assert.Equal([10L, 15], doc.RootElement.GetProperty("checkpoints").EnumerateArray().Select(c => c.GetProperty("step").GetInt64()));
        AssertContinues(reference, Losses(resumed.Out), 5, tolerance);
    }

    [Fact]
    public async Task RandomKillsNeverLeaveALoadablePartialCheckpoint()
    {
        using var f = new CheckpointFixture();
        // 200 steps: long enough that a kill a few checkpoints in lands before the run ends, even on a fast machine.
        string[] args = [.. Train, "--steps", "200", "--checkpoint-dir", f.Directory, "--checkpoint-every", "2", "--keep", "2"];
        var reference = Losses((await Alpa(f.Directory, null, [.. Train, "--steps", "200"])).Out);
        var random = new Random(2026);
        var kills = 0;
        (int Exit, string Out, string Err)? finished = null;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var committed = CheckpointStore.Committed(f.Directory);
            var resume = committed.Count > 0 ? new[] { "--resume", f.Directory } : [];
            var newest = committed.Count > 0 ? committed[0].Step : 0;
            var target = newest + 2 * random.Next(1, 4);
            var delay = random.Next(0, 80);
            async Task Trigger()
            {
                // A random moment after the run commits a random checkpoint newer than it started from:
                // saves take place every 2 steps, so the kill lands anywhere in or between them.
                while (CheckpointStore.Committed(f.Directory) is not [var c, ..] || c.Step < target) await Task.Delay(5);
                await Task.Delay(delay);
            }
            var run = await Alpa(f.Directory, null, [.. args, .. resume], Trigger);
            if (run.Exit == 0)
            {
                // The run reached the last step before its kill (a fast machine): it is the final run.
                finished = run;
                break;
            }
            Assert.Equal(137, run.Exit);
            kills++;
            foreach (var (step, path) in CheckpointStore.Committed(f.Directory)) Assert.Equal(step, Checkpoint.Open(path).Step);
            output.WriteLine($"kill {kills}: committed {string.Join(", ", CheckpointStore.Committed(f.Directory).Select(c => c.Step))}; " +
                             $"partial {string.Join(", ", CheckpointStore.StepDirectories(f.Directory).Where(d => !File.Exists(Path.Combine(d.Path, CheckpointManifest.FileName))).Select(d => d.Step))}");
        }
        var last = finished ?? await Alpa(f.Directory, null, [.. args, "--resume", f.Directory]);
        Assert.Equal(0, last.Exit);
        using var doc = JsonDocument.Parse(last.Out);
        var start = doc.RootElement.GetProperty("start_step").GetInt32();
        output.WriteLine($"{kills} kills; the last run resumed at step {start}");
        Assert.True(kills > 0, "no run was killed: the random delays were too long for this machine");
        AssertContinues(reference, Losses(last.Out), start, 1e-6);
    }

    private void AssertContinues(IReadOnlyList<double> reference, IReadOnlyList<double> losses, int start, double tolerance)
    {
        Assert.Equal(reference.Count - start, losses.Count);
        var diff = losses.Select((l, i) => Math.Abs(l - reference[start + i]) / Math.Abs(reference[start + i])).Max();
        output.WriteLine($"resumed at {start}: max loss rel diff vs uninterrupted {diff:E2}");
        Assert.True(diff <= tolerance, $"loss rel diff {diff}");
    }

    private static double[] Losses(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return [.. doc.RootElement.GetProperty("losses").EnumerateArray().Select(l => l.GetDouble())];
    }

    /// <summary>Runs <c>alpa ARGS</c>; with <paramref name="killWhen"/>, SIGKILLs it when that completes unless it ended.</summary>
    private async Task<(int Exit, string Out, string Err)> Alpa(string workDirectory, string? fault, string[] args, Func<Task>? killWhen = null)
    {
        var info = new ProcessStartInfo(SiloProcess.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDirectory,
        };
        info.ArgumentList.Add(typeof(Checkpoint).Assembly.Location);
        foreach (var a in args) info.ArgumentList.Add(a);
        if (fault is not null) info.Environment[FaultInjection.Variable] = fault;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        if (killWhen is not null)
        {
            var exited = process.WaitForExitAsync(limit.Token);
            if (await Task.WhenAny(killWhen(), exited) != exited) process.Kill();
        }
        await process.WaitForExitAsync(limit.Token);
        var (o, e) = (await stdout, await stderr);
        output.WriteLine($"alpa {string.Join(' ', args)}{(fault is null ? "" : $" [{fault}]")}: exit {process.ExitCode}");
        if (process.ExitCode is not (0 or 137)) output.WriteLine(e);
        return (process.ExitCode, o, e);
    }
}
