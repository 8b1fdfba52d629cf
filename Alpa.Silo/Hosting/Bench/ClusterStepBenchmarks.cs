using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Hosting.Bench;

/// <summary>Options of <c>alpa bench cluster</c>.</summary>
public sealed record ClusterStepBenchOptions
{
    /// <summary>Built-in model trained across the silos.</summary>
    public string Model { get; init; } = "gpt-tiny";
    /// <summary>Silo processes (one pipeline stage each, one CPU device each).</summary>
    public int Silos { get; init; } = 2;
    /// <summary>Training steps; the first <see cref="WarmupSteps"/> are left out of the median.</summary>
    public int Steps { get; init; } = 20;
    public int WarmupSteps { get; init; } = 2;
    public int Microbatches { get; init; } = 2;
    /// <summary>All-reduce tensor sizes (bytes per silo) measured against raw TCP.</summary>
    public IReadOnlyList<long> AllReduceBytes { get; init; } = [4L << 20, 64L << 20];
    /// <summary>Folder for the silos' working directories and logs.</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "alpa-bench-cluster");
}

/// <summary>Results of <c>alpa bench cluster</c>: the plan's prediction vs the measured steps, and all-reduce vs raw TCP.</summary>
public sealed record ClusterStepBenchResult(string Machine, string Date, string UptimeBefore, string UptimeAfter, string Model, int Silos,
    IReadOnlyList<string> Profile, double PredictedStepSeconds, double MedianStepSeconds, IReadOnlyList<double> StepSeconds,
    IReadOnlyList<double> MedianStageSeconds, double RawTcpGibps, IReadOnlyList<CollectiveBenchRow> AllReduce);

/// <summary>
/// <c>alpa bench cluster</c>: starts silo processes on loopback, asks the PlannerGrain for a plan of the model with
/// one stage per silo on the profiled cluster spec (its simulated step time is the prediction), trains it through
/// a DriverGrain and takes the median step; then cross-silo ring all-reduces against raw loopback TCP measured in
/// the same run, interleaved.
/// </summary>
public static class ClusterStepBenchmarks
{
    public static async Task<int> RunCliAsync(string[] args)
    {
        var outIndex = Array.IndexOf(args, "--out");
        var directory = outIndex > 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine("bench", "results");
        var options = args.Contains("--quick") ? new ClusterStepBenchOptions { Steps = 5, WarmupSteps = 1, AllReduceBytes = [4L << 20] } : new ClusterStepBenchOptions();
        try
        {
            var result = await RunAsync(options, line => Console.Error.WriteLine(line)).ConfigureAwait(false);
            var command = "alpa " + string.Join(' ', args);
            Directory.CreateDirectory(directory);
            File.WriteAllText(Path.Combine(directory, "cluster-step.json"), JsonSerializer.Serialize(new { command, result }, new JsonSerializerOptions
            {
                WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            }) + "\n");
            File.WriteAllText(Path.Combine(directory, "cluster-step.md"), Markdown(result, command));
            Console.Out.WriteLine(args.Contains("--json") ? JsonSerializer.Serialize(result) : Markdown(result, command));
            return 0;
        }
        catch (AlpaException e)
        {
            await Console.Error.WriteLineAsync($"alpa: bench cluster: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    public static async Task<ClusterStepBenchResult> RunAsync(ClusterStepBenchOptions options, Action<string> progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var uptimeBefore = TransportBenchmarks.LoadAverage();
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var addresses = Enumerable.Range(0, options.Silos).Select(_ => $"127.0.0.1:{SiloProcess.FreePort()}").ToList();
        var silos = new List<SiloProcess>();
        try
        {
            foreach (var (a, i) in addresses.Select((a, i) => (a, i)))
            {
                progress($"starting silo {i + 1}/{addresses.Count} on {a}");
                silos.Add(await SiloProcess.StartAsync(a, ["--devices", "cpu:1", "--membership", $"static:{addresses[0]}", "--cluster-id", "bench-cluster"],
                    Path.Combine(options.WorkDirectory, $"s{i}"), new Dictionary<string, string> { ["ALPA_SECRET"] = secret }).ConfigureAwait(false));
            }
            var transport = new TransportOptions { Secret = ClusterSecret.FromText(secret), DefaultTimeout = TimeSpan.FromMinutes(10) };
            using var client = await AlpaClient.ConnectAsync(addresses[0], transport, cancellationToken).ConfigureAwait(false);
            await TransportBenchmarks.WaitForActiveAsync(client, addresses.Count, cancellationToken).ConfigureAwait(false);
            progress($"planning {options.Model} on the profiled silos");
            var plan = await client.GetGrain<IPlannerGrain>("bench").PlanAsync(new PlanRequest(options.Model, addresses, options.Microbatches), cancellationToken)
                .ConfigureAwait(false);
            foreach (var line in plan.Profile) progress($"  {line}");
            var job = ClusterJob.FromPlan($"bench-{Guid.NewGuid():N}"[..16], options.Model, plan.PlanJson, plan.Silos, plan.DevicesPerSilo,
                options.Steps, 0, plan.ClusterJson);
            var run = await DriverClient.RunAsync(client, job, s => progress($"step {s.Step}/{options.Steps}: {s.Seconds * 1e3:F1} ms, loss {s.Loss:F4}"),
                cancellationToken).ConfigureAwait(false);
            var timed = run.Steps.Skip(options.WarmupSteps).ToList();
            var stages = Enumerable.Range(0, timed.FirstOrDefault()?.StageSeconds.Count ?? 0).Select(s => TransportBenchmarks.Median(timed.Select(t => t.StageSeconds[s]).ToList())).ToList();
            var (raw, rows) = await AllReduceAsync(client, addresses, options.AllReduceBytes, progress, cancellationToken).ConfigureAwait(false);
            return new ClusterStepBenchResult(TransportBenchmarks.Machine(), DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture), uptimeBefore,
                TransportBenchmarks.LoadAverage(), options.Model, options.Silos, plan.Profile, plan.PredictedStepSeconds,
                TransportBenchmarks.Median(timed.Select(t => t.Seconds).ToList()), [.. run.Steps.Select(s => s.Seconds)], stages, raw, rows);
        }
        finally
        {
            foreach (var s in silos) await s.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Ring all-reduces over the silos, each size after a raw loopback TCP measurement (64 MiB, 2 transfers).</summary>
    private static async Task<(double RawGibps, List<CollectiveBenchRow> Rows)> AllReduceAsync(AlpaClient client, List<string> silos, IReadOnlyList<long> sizes,
        Action<string> progress, CancellationToken token)
    {
        var raw = new List<double>();
        var rows = new List<CollectiveBenchRow>();
        var tag = 101;
        foreach (var bytes in sizes)
        {
            raw.AddRange(await TransportBenchmarks.RawTcpSecondsAsync(64L << 20, 2, token).ConfigureAwait(false));
            progress($"all-reduce of {bytes >> 20} MiB over {silos.Count} silos");
            rows.Add(await CollectiveBenchmarks.MeasureAsync(client, silos, bytes, 3, tag++, token).ConfigureAwait(false));
        }
        var rawGibps = (64L << 20) / TransportBenchmarks.Median(raw) / (1L << 30);
        return (rawGibps, [.. rows.Select(r => r with { BusToRaw = r.BusGibps / rawGibps })]);
    }

    private static string Markdown(ClusterStepBenchResult r, string command)
    {
        var text = new StringBuilder(string.Create(CultureInfo.InvariantCulture, $"""
            # Training across silo processes: measured step vs the plan's prediction; all-reduce vs raw TCP

            - command: `{command}`
            - machine: {r.Machine}
            - date: {r.Date}
            - load average (1/5/15 min, as `uptime` shows) before: {r.UptimeBefore}; after: {r.UptimeAfter}

            {r.Model} with one pipeline stage per silo on {r.Silos} `alpa silo` processes on loopback (one CPU device each),
            planned by the PlannerGrain on the cluster spec the silos profiled, driven by a DriverGrain. Prediction = the
            simulator's step time of that plan on that spec. All silos share this machine's cores (see the load average).

            Profile:

            """));
        foreach (var line in r.Profile) text.Append(CultureInfo.InvariantCulture, $"- {line}\n");
        text.Append(CultureInfo.InvariantCulture, $"""

            | | step time |
            |---|---|
            | predicted (simulator, profiled spec) | {r.PredictedStepSeconds * 1e3:F1} ms |
            | measured (median of steps after warm-up) | {r.MedianStepSeconds * 1e3:F1} ms |
            | measured / predicted | {r.MedianStepSeconds / r.PredictedStepSeconds:F2}× |
            | per-stage worker time (medians) | {string.Join(", ", r.MedianStageSeconds.Select(s => $"{s * 1e3:F1} ms"))} |

            Cross-silo ring all-reduce (one rank per silo) vs raw loopback TCP in the same run: **{r.RawTcpGibps:F2} GiB/s**.

            | silos | tensor | time | bus bw | bus / raw TCP | result ok |
            |---|---|---|---|---|---|

            """);
        foreach (var row in r.AllReduce)
            text.Append(CultureInfo.InvariantCulture, $"| {row.Silos} | {row.TensorBytes >> 20} MiB | {row.MedianSeconds * 1e3:F1} ms | {row.BusGibps:F2} GiB/s | {row.BusToRaw:P0} | {(row.ChecksumOk ? "yes" : "NO")} |\n");
        return text.ToString();
    }
}
