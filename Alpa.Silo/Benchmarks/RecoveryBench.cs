using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Hosting.Bench;

namespace Alpa.Silo.Benchmarks;

/// <summary>Options of <c>alpa bench recovery</c>.</summary>
public sealed record RecoveryBenchOptions
{
    /// <summary>Silos the job runs on (one pipeline stage each).</summary>
    public int Silos { get; init; } = 3;
    /// <summary>Silo deaths; each is replaced by a spare started beforehand.</summary>
    public int Kills { get; init; } = 2;
    /// <summary>Built-in model.</summary>
    public string Model { get; init; } = "gpt-tiny";
    /// <summary>Checkpoint interval; a silo is killed 2 steps after each checkpoint's step.</summary>
    public int Every { get; init; } = 4;
    /// <summary>Scratch directory for silo logs and checkpoints (deleted afterwards).</summary>
    public string Scratch { get; init; } = Path.Combine(Path.GetTempPath(), "alpa-bench-recovery");
}

/// <summary>One measured recovery: seconds from the SIGKILL to each phase's end.</summary>
/// <param name="Timing">What the loop measured.</param>
/// <param name="DetectSeconds">SIGKILL → the driver sees the failure.</param>
public sealed record RecoveryBenchRow(RecoveryTiming Timing, double DetectSeconds)
{
    /// <summary>SIGKILL → the first step after the restore is done.</summary>
    public double TotalSeconds => DetectSeconds + Timing.WaitSeconds + Timing.ReplanSeconds + Timing.RestoreSeconds + Timing.FirstStepSeconds;
}

/// <summary>
/// Time from a silo's death to training resumed, broken down: detection (SIGKILL until the driver's call
/// fails), finding live silos (probes), re-plan (plan + load programs on every worker), restore (every worker
/// loads its stage from the last checkpoint) and the first step. Real silo processes on loopback.
/// </summary>
public static class RecoveryBench
{
    public static async Task<(IReadOnlyList<RecoveryBenchRow> Rows, double StepSeconds)> RunAsync(RecoveryBenchOptions options, TextWriter progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        if (Directory.Exists(options.Scratch)) Directory.Delete(options.Scratch, recursive: true);
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var addresses = Enumerable.Range(0, options.Silos + options.Kills).Select(_ => $"127.0.0.1:{SiloProcess.FreePort()}").ToList();
        var silos = new List<SiloProcess>();
        try
        {
            foreach (var (a, i) in addresses.Select((a, i) => (a, i)))
            {
                progress.WriteLine($"starting silo {i + 1}/{addresses.Count} on {a}");
                silos.Add(await SiloProcess.StartAsync(a, ["--devices", "cpu:1", "--membership", $"static:{addresses[0]}", "--cluster-id", "bench-recovery"],
                    Path.Combine(options.Scratch, $"s{i}"), new Dictionary<string, string> { ["ALPA_SECRET"] = secret }).ConfigureAwait(false));
            }
            using var client = await AlpaClient.ConnectAsync(addresses[0], ClusterSecret.FromText(secret), cancellationToken).ConfigureAwait(false);
            await TransportBenchmarks.WaitForActiveAsync(client, addresses.Count, cancellationToken).ConfigureAwait(false);
            return await MeasureAsync(options, client, silos, progress, cancellationToken).ConfigureAwait(false);
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

    /// <summary>Runs the job and kills silo 1, 2, … (never the membership seed) two steps after each checkpoint.</summary>
    private static async Task<(IReadOnlyList<RecoveryBenchRow>, double)> MeasureAsync(RecoveryBenchOptions options, AlpaClient client, List<SiloProcess> silos,
                                                                                     TextWriter progress, CancellationToken cancellationToken)
    {
        var kills = new List<long>();
        var stepSeconds = new List<double>();
        var last = Stopwatch.GetTimestamp();
        var (recovering, victim) = (false, 1);
        void OnEvent(TrainingEvent e)
        {
            progress.WriteLine($"{e.Kind}: {e.Message}");
            if (e.Kind == "step" && !recovering) stepSeconds.Add(Stopwatch.GetElapsedTime(last, e.Timestamp).TotalSeconds);
            last = e.Timestamp;
            if (e.Kind == "resumed") recovering = false;
            if (e.Kind != "step" || recovering || e.Step % options.Every != 2 || e.Step < options.Every || kills.Count >= options.Kills) return;
            recovering = true;
            kills.Add(Stopwatch.GetTimestamp());
            silos[victim++].Kill();
        }
        var loop = new RecoveringTrainingLoop(client, ct => RecoveringTrainingLoop.ActiveSilosAsync(client, ct), new RecoveringTrainingOptions
        {
            JobId = "bench-recovery", Model = options.Model, Steps = options.Every * (options.Kills + 1) + 2,
            Silos = [.. silos.Take(options.Silos).Select(s => s.Address)], WaitForReplacement = TimeSpan.Zero,
            Checkpoints = new ClusterCheckpointOptions { Directory = Path.Combine(options.Scratch, "checkpoints"), Every = options.Every },
        }, OnEvent);
        var result = await loop.RunAsync(cancellationToken).ConfigureAwait(false);
        var rows = result.Recoveries.Select((r, i) => new RecoveryBenchRow(r, Stopwatch.GetElapsedTime(kills[i], r.DetectedTimestamp).TotalSeconds)).ToList();
        return (rows, stepSeconds.Count == 0 ? 0 : stepSeconds.Order().ElementAt(stepSeconds.Count / 2));
    }

    /// <summary>Writes bench/results/recovery.md and returns its path.</summary>
    public static string Write(IReadOnlyList<RecoveryBenchRow> rows, double stepSeconds, RecoveryBenchOptions o, string command, string load)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Recovery: time from a silo's death to training resumed");
        sb.AppendLine();
        sb.AppendLine(inv, $"- command: `{command}`");
        sb.AppendLine(inv, $"- date: {BenchMachine.Date()}");
        sb.AppendLine(inv, $"- machine: {BenchMachine.Describe()}");
        sb.AppendLine(inv, $"- load average (1, 5, 15 min): {load}");
        sb.AppendLine(inv, $"- job: {o.Model} on {o.Silos} silo processes (cpu:1 each, one pipeline stage per silo), checkpoint every {o.Every} steps; a job silo is SIGKILLed 2 steps after a checkpoint, a spare silo started beforehand replaces it. Median step before the kills: {stepSeconds * 1e3:F0} ms.");
        sb.AppendLine("- detection: SIGKILL → the driver's step call fails; live silos: membership + probes; re-plan: plan the job on the live silos and load every worker's program; restore: every worker reads, verifies and reshards its stage from the last committed checkpoint; first step: the first step after the restore.");
        sb.AppendLine();
        sb.AppendLine("| # | dead silo | failed after step | restored step | detection s | live silos s | re-plan s | restore s | first step s | total s |");
        sb.AppendLine("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var (r, i) in rows.Select((r, i) => (r, i + 1)))
        {
            var t = r.Timing;
            sb.AppendLine(inv, $"| {i} | {string.Join(", ", t.DeadSilos)} | {t.FailedAtStep} | {t.RestoredStep} | {r.DetectSeconds:F2} | {t.WaitSeconds:F2} | {t.ReplanSeconds:F2} | {t.RestoreSeconds:F2} | {t.FirstStepSeconds:F2} | {r.TotalSeconds:F2} |");
        }
        var path = Path.Combine(BenchMachine.ResultsFolder(), "recovery.md");
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
