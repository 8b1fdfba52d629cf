using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;

namespace Alpa.Silo.Hosting.Bench;

/// <summary>Options of <c>alpa bench collectives</c>.</summary>
public sealed record CollectiveBenchOptions
{
    /// <summary>Bytes of the tensor every rank all-reduces.</summary>
    public IReadOnlyList<long> TensorBytes { get; init; } = [1L << 20, 16L << 20, 64L << 20];
    /// <summary>Silo processes in the ring (each one rank).</summary>
    public IReadOnlyList<int> SiloCounts { get; init; } = [2, 3];
    /// <summary>Timed all-reduces per (size, silo count), after one warm-up.</summary>
    public int Iterations { get; init; } = 3;
    /// <summary>Folder for the silos' working directories and logs.</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "alpa-bench-collectives");
}

/// <summary>One (silo count, size) row: medians over iterations of the slowest silo's time.</summary>
/// <param name="AlgorithmGibps">Tensor bytes / time.</param>
/// <param name="BusGibps">Ring bus bandwidth: tensor bytes · 2(S − 1)/S / time — what each silo's link carried per second.</param>
public sealed record CollectiveBenchRow(int Silos, long TensorBytes, double MedianSeconds, double AlgorithmGibps, double BusGibps, double BusToRaw,
                                        long NetworkBytesPerSilo, bool ChecksumOk);

/// <summary>Results of <c>alpa bench collectives</c>.</summary>
public sealed record CollectiveBenchResult(string Machine, string Date, string UptimeBefore, string UptimeAfter, double RawTcpGibps,
                                           IReadOnlyList<CollectiveBenchRow> Rows);

/// <summary>
/// Cross-silo ring all-reduce between real <c>alpa silo</c> processes on loopback (one CPU rank each),
/// against raw TCP on loopback measured in the same run (64 MiB, one stream, one acknowledgement per
/// transfer, as in <c>alpa bench transport</c>).
/// </summary>
public static class CollectiveBenchmarks
{
    /// <summary>Entry of <c>alpa bench collectives [--quick] [--json] [--out DIR]</c>.</summary>
    public static async Task<int> RunCliAsync(string[] args)
    {
        var outIndex = Array.IndexOf(args, "--out");
        var directory = outIndex > 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine("bench", "results");
        var options = args.Contains("--quick") ? new CollectiveBenchOptions { TensorBytes = [4L << 20], SiloCounts = [2], Iterations = 3 } : new CollectiveBenchOptions();
        try
        {
            var result = await RunAsync(options, progress: line => Console.Error.WriteLine(line)).ConfigureAwait(false);
            WriteResults(result, "alpa " + string.Join(' ', args), directory);
            Console.Out.WriteLine(args.Contains("--json") ? JsonSerializer.Serialize(result) : Table(result));
            return 0;
        }
        catch (AlpaException e)
        {
            await Console.Error.WriteLineAsync($"alpa: bench collectives: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    public static async Task<CollectiveBenchResult> RunAsync(CollectiveBenchOptions options, Action<string> progress, CancellationToken cancellationToken = default)
    {
        var uptimeBefore = TransportBenchmarks.LoadAverage();
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var env = new Dictionary<string, string> { ["ALPA_SECRET"] = secret };
        var addresses = Enumerable.Range(0, options.SiloCounts.Max()).Select(_ => $"127.0.0.1:{SiloProcess.FreePort()}").ToList();
        var silos = new List<SiloProcess>();
        try
        {
            foreach (var (a, i) in addresses.Select((a, i) => (a, i)))
            {
                progress($"starting silo {i + 1}/{addresses.Count} on {a}");
                silos.Add(await SiloProcess.StartAsync(a, ["--devices", "cpu:1", "--membership", $"static:{addresses[0]}", "--cluster-id", "bench-collectives"],
                    Path.Combine(options.WorkDirectory, $"s{i}"), env).ConfigureAwait(false));
            }
            var transport = new TransportOptions { Secret = ClusterSecret.FromText(secret), DefaultTimeout = TimeSpan.FromMinutes(10) };
            using var client = await AlpaClient.ConnectAsync(addresses[0], transport, cancellationToken).ConfigureAwait(false);
            await TransportBenchmarks.WaitForActiveAsync(client, addresses.Count, cancellationToken).ConfigureAwait(false);
            var rows = new List<CollectiveBenchRow>();
            var raw = new List<double>();
            var tag = 1;
            foreach (var count in options.SiloCounts)
            {
                foreach (var bytes in options.TensorBytes)
                {
                    raw.AddRange(await TransportBenchmarks.RawTcpSecondsAsync(64L << 20, 2, cancellationToken).ConfigureAwait(false));
                    progress($"all-reduce of {bytes >> 20} MiB over {count} silos");
                    rows.Add(await MeasureAsync(client, addresses.Take(count).ToList(), bytes, options.Iterations, tag++, cancellationToken).ConfigureAwait(false));
                }
            }
            var rawGibps = (64L << 20) / TransportBenchmarks.Median(raw) / (1L << 30);
            return new CollectiveBenchResult(TransportBenchmarks.Machine(), DateTimeOffset.UtcNow.ToString("u", CultureInfo.InvariantCulture), uptimeBefore, TransportBenchmarks.LoadAverage(), rawGibps,
                [.. rows.Select(r => r with { BusToRaw = r.BusGibps / rawGibps })]);
        }
        finally
        {
            foreach (var s in silos) await s.DisposeAsync().ConfigureAwait(false);
        }
    }

    internal static async Task<CollectiveBenchRow> MeasureAsync(AlpaClient client, List<string> silos, long bytes, int iterations, int tag, CancellationToken token)
    {
        var request = new CollectiveRunRequest(tag, silos, 1, bytes / 4, iterations + 1, 120);
        var replies = await Task.WhenAll(silos.Select(s => client.GetGrain<ICollectiveGrain>(s).RunAllReduceAsync(request, token))).ConfigureAwait(false);
        var slowest = Enumerable.Range(1, iterations).Select(i => replies.Max(r => r.Seconds[i])).ToList();
        var seconds = TransportBenchmarks.Median(slowest);
        var n = silos.Count;
        var expected = CollectiveRunReply.ExpectedChecksum(n, bytes / 4, iterations + 1);
        var ok = replies.All(r => Math.Abs(r.Checksum - expected) <= 1e-5 * Math.Abs(expected));
        var gib = bytes / seconds / (1L << 30);
        return new CollectiveBenchRow(n, bytes, seconds, gib, gib * 2 * (n - 1) / n, 0, replies.Max(r => r.NetworkBytesSent) / (iterations + 1), ok);
    }

    /// <summary>Writes <c>collectives.json</c> and <c>collectives.md</c> into <paramref name="directory"/>.</summary>
    public static void WriteResults(CollectiveBenchResult result, string command, string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "collectives.json"), JsonSerializer.Serialize(new { command, result }, new JsonSerializerOptions
        {
            WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        }) + "\n");
        File.WriteAllText(Path.Combine(directory, "collectives.md"), $"""
            # Cross-silo all-reduce benchmark

            - command: `{command}`
            - machine: {result.Machine}
            - date: {result.Date}
            - load average (1/5/15 min, as `uptime` shows) before: {result.UptimeBefore}
            - load average after: {result.UptimeAfter}

            Ring all-reduce between `alpa silo` processes on loopback (one CPU rank per silo, data plane with
            HMAC handshakes, 8 MiB frames each acknowledged), against raw TCP on loopback measured in the same
            run, interleaved with the rows: **{result.RawTcpGibps:F2} GiB/s** (64 MiB transfers, one stream).
            Time = median over iterations of the slowest silo. Bus bandwidth = bytes · 2(S − 1)/S / time: what
            each silo's link carried per second; that is the number to hold against the raw TCP rate. All silos
            and both measurements share the machine's cores (see the load average).

            {Table(result)}
            """);
    }

    private static string Table(CollectiveBenchResult result)
    {
        var text = new StringBuilder("| silos | tensor | time | algorithm bw | bus bw | bus / raw TCP | bytes sent per silo | result ok |\n|---|---|---|---|---|---|---|---|\n");
        foreach (var r in result.Rows)
            text.Append(CultureInfo.InvariantCulture, $"| {r.Silos} | {r.TensorBytes >> 20} MiB | {r.MedianSeconds * 1e3:F1} ms | {r.AlgorithmGibps:F2} GiB/s | {r.BusGibps:F2} GiB/s | {r.BusToRaw:P0} | {r.NetworkBytesPerSilo:N0} | {(r.ChecksumOk ? "yes" : "NO")} |\n");
        return text.ToString();
    }
}
