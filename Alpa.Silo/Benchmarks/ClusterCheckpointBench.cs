using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Hosting.Bench;

namespace Alpa.Silo.Benchmarks;

/// <summary>Options of <c>alpa bench cluster-checkpoint</c>.</summary>
public sealed record ClusterCheckpointBenchOptions
{
    /// <summary>Built-in model trained by the job.</summary>
    public string Model { get; init; } = "gpt-tiny";
    /// <summary>Training steps per mode and round.</summary>
    public int Steps { get; init; } = 16;
    /// <summary>Checkpoint interval (steps).</summary>
    public int Every { get; init; } = 2;
    /// <summary>Measured rounds over the three modes (they alternate, so a change of machine load hits each alike), after one warm-up round.</summary>
    public int Rounds { get; init; } = 3;
    /// <summary>Scratch directory for silo logs and checkpoints (deleted afterwards).</summary>
    public string Scratch { get; init; } = Path.Combine(Path.GetTempPath(), "alpa-bench-cluster-checkpoint");
}

/// <summary>One mode of the measurement: mean step time of the loop (saves included) and what the saves cost.</summary>
/// <param name="Mode"><c>none</c>, <c>background</c> or <c>blocking</c>.</param>
/// <param name="StepSeconds">Per round: wall time of the round's steps and saves (the last commit waited for) over its steps.</param>
/// <param name="WaitSeconds">Mean time the loop waited per save (host copy; for blocking saves also the write and commit).</param>
/// <param name="WriteSeconds">Mean time from the copy to the commit.</param>
/// <param name="Bytes">Bytes of one checkpoint.</param>
public sealed record ClusterCheckpointBenchRow(string Mode, IReadOnlyList<double> StepSeconds, double WaitSeconds, double WriteSeconds, long Bytes)
{
    /// <summary>Median over rounds of the per-step time.</summary>
    public double MedianStepSeconds => StepSeconds.Order().ElementAt(StepSeconds.Count / 2);
}

/// <summary>
/// The training slowdown of a cluster job while it checkpoints: 2 silo processes (cpu:1 each) train one stage whose
/// (1, 2) mesh spans both, without checkpoints, with background saves (the workers copy their blocks at the step
/// boundary and write while the next steps run) and with blocking saves (the next step waits for the commit).
/// </summary>
public static class ClusterCheckpointBench
{
    private static readonly string[] Modes = ["none", "background", "blocking"];

    public static async Task<IReadOnlyList<ClusterCheckpointBenchRow>> RunAsync(ClusterCheckpointBenchOptions options, TextWriter progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        if (Directory.Exists(options.Scratch)) Directory.Delete(options.Scratch, recursive: true);
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var addresses = Enumerable.Range(0, 2).Select(_ => $"127.0.0.1:{SiloProcess.FreePort()}").ToList();
        var silos = new List<SiloProcess>();
        try
        {
            foreach (var (a, i) in addresses.Select((a, i) => (a, i)))
            {
                progress.WriteLine($"starting silo {i + 1}/2 on {a}");
                silos.Add(await SiloProcess.StartAsync(a, ["--devices", "cpu:1", "--membership", $"static:{addresses[0]}", "--cluster-id", "bench-cluster-checkpoint"],
                    Path.Combine(options.Scratch, $"s{i}"), new Dictionary<string, string> { ["ALPA_SECRET"] = secret }).ConfigureAwait(false));
            }
            using var client = await AlpaClient.ConnectAsync(addresses[0], ClusterSecret.FromText(secret), cancellationToken).ConfigureAwait(false);
            await TransportBenchmarks.WaitForActiveAsync(client, addresses.Count, cancellationToken).ConfigureAwait(false);
            var total = (options.Rounds + 1) * Modes.Length * options.Steps;
            var job = ClusterJob.Create("bench-cluster-checkpoint", options.Model, [.. addresses.Order(StringComparer.Ordinal)], 1, total, 2, seed: 0, new ClusterLayout { Stages = 1 });
            var driver = new ClusterJobDriver(client, job);
            try
            {
                await driver.LoadAsync(cancellationToken).ConfigureAwait(false);
                return await MeasureAsync(options, driver, progress, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await driver.ReleaseAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        finally
        {
            foreach (var s in silos) await s.DisposeAsync().ConfigureAwait(false);
            try
            {
                Directory.Delete(options.Scratch, recursive: true);
            }
            catch (IOException)
            {
                // A silo's log file may still be closing; the scratch folder is in /tmp.
            }
        }
    }

    /// <summary>A warm-up round (not counted), then rounds of the three modes, each on the same loaded job (the step count runs on).</summary>
    private static async Task<IReadOnlyList<ClusterCheckpointBenchRow>> MeasureAsync(ClusterCheckpointBenchOptions options, ClusterJobDriver driver,
                                                                                     TextWriter progress, CancellationToken cancellationToken)
    {
        long step = 0;
        var seconds = Modes.ToDictionary(m => m, _ => new List<double>());
        var reports = Modes.ToDictionary(m => m, _ => new List<Checkpoints.SaveReport>());
        for (var round = -1; round < options.Rounds; round++)
        {
            foreach (var mode in Modes)
            {
                var checkpointer = new ClusterCheckpointer(new ClusterCheckpointOptions
                {
                    Directory = Path.Combine(options.Scratch, $"{mode}-{round}"), Every = options.Every, Keep = 2, Background = mode == "background",
                });
                var clock = Stopwatch.StartNew();
                for (var i = 1; i <= options.Steps; i++)
                {
                    await driver.RunStepAsync(step++, cancellationToken).ConfigureAwait(false);
                    if (mode != "none" && i % options.Every == 0) await checkpointer.AfterStepAsync(driver, step, step, cancellationToken).ConfigureAwait(false);
                }
                // The steps' time: the wait for the round's last commit is not a step's (a job waits for it once, at its end).
                var perStep = clock.Elapsed.TotalSeconds / options.Steps;
                await checkpointer.FlushAsync(cancellationToken).ConfigureAwait(false);
                progress.WriteLine($"round {(round < 0 ? "warm-up" : $"{round + 1}/{options.Rounds}")}, {mode}: {perStep * 1e3:F1} ms/step, {checkpointer.Saved.Count} checkpoint(s)");
                if (round < 0) continue;
                seconds[mode].Add(perStep);
                reports[mode].AddRange(checkpointer.Saved);
            }
        }
        return [.. Modes.Select(m => new ClusterCheckpointBenchRow(m, seconds[m],
            reports[m].Count == 0 ? 0 : reports[m].Average(r => m == "blocking" ? r.SnapshotSeconds + r.WriteSeconds : r.SnapshotSeconds),
            reports[m].Count == 0 ? 0 : reports[m].Average(r => r.WriteSeconds), reports[m].Count == 0 ? 0 : reports[m][^1].Bytes))];
    }

    /// <summary>Writes bench/results/cluster-checkpoint.md and returns its path.</summary>
    public static string Write(IReadOnlyList<ClusterCheckpointBenchRow> rows, ClusterCheckpointBenchOptions o, string command, string load)
    {
        var inv = CultureInfo.InvariantCulture;
        var none = rows.Single(r => r.Mode == "none").MedianStepSeconds;
        var sb = new StringBuilder();
        sb.AppendLine("# Cluster checkpoints: training slowdown during background and blocking saves");
        sb.AppendLine();
        sb.AppendLine(inv, $"- command: `{command}`");
        sb.AppendLine(inv, $"- date: {BenchMachine.Date()}");
        sb.AppendLine(inv, $"- machine: {BenchMachine.Describe()}");
        sb.AppendLine(inv, $"- load average (1, 5, 15 min): {load} (a 1-minute figure above the core count means other processes shared the cores and the disk)");
        sb.AppendLine(inv, $"- job: {o.Model}, 2 silo processes on loopback (cpu:1 each), one stage whose (1, 2) mesh spans both silos; each silo writes the blocks of its own rank (replicated blocks once) into one checkpoint directory, the driver commits the manifest. A checkpoint every {o.Every} steps; {o.Rounds} rounds of {o.Steps} steps per mode, modes alternating; the median round is reported. A round's time is its steps' (with every wait of the step loop for a save), not the wait for its last commit after its last step.");
        sb.AppendLine("- background: the workers copy their blocks to the host at the step boundary and write while the next steps run; the next save waits for the previous commit. Blocking: the next step waits for the commit.");
        sb.AppendLine();
        sb.AppendLine("The step-time slowdown compares whole rounds and moves with the machine's load; the wait column is what the step loop itself spent per save, and");
        sb.AppendLine("\"waits / training time\" divides it by the steps between saves (× the median step without saves): the slowdown the saves cause, less sensitive to the load.");
        sb.AppendLine();
        sb.AppendLine("| mode | ms/step (median round) | rounds, ms/step | slowdown (aim ≤ 10%) | loop waited per save, ms | waits / training time | copy → commit per save, ms | checkpoint bytes |");
        sb.AppendLine("|---|---:|---|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            var (slowdown, waits) = r.Mode == "none" ? ("—", "—")
                : ((r.MedianStepSeconds / none - 1).ToString("P1", inv), (r.WaitSeconds / (o.Every * none)).ToString("P1", inv));
            var rounds = string.Join(", ", r.StepSeconds.Select(s => (s * 1e3).ToString("F1", inv)));
            sb.AppendLine(inv, $"| {r.Mode} | {r.MedianStepSeconds * 1e3:F1} | {rounds} | {slowdown} | {r.WaitSeconds * 1e3:F1} | {waits} | {r.WriteSeconds * 1e3:F1} | {r.Bytes} |");
        }
        var path = Path.Combine(BenchMachine.ResultsFolder(), "cluster-checkpoint.md");
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
