using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;

namespace Alpa.Silo.Hosting.Bench;

/// <summary>Options of <c>alpa bench transport</c>.</summary>
public sealed record TransportBenchOptions
{
    /// <summary>Bytes per tensor transfer.</summary>
    public long TensorBytes { get; init; } = 64L << 20;
    /// <summary>Timed transfers per path, in interleaved rounds (after warm-up transfers).</summary>
    public int Transfers { get; init; } = 20;
    /// <summary>Timed small grain calls (after warm-up calls).</summary>
    public int Calls { get; init; } = 5000;
    /// <summary>Folder for the silos' working directories and logs.</summary>
    public string WorkDirectory { get; init; } = Path.Combine(Path.GetTempPath(), "alpa-bench-transport");
}

/// <summary>Results of <c>alpa bench transport</c> (JSON field names in snake_case).</summary>
public sealed record TransportBenchResult(
    string Machine, string Date, long TensorBytes, int Transfers,
    double RawTcpGibps, double SiloToSiloGibps, double RatioToRaw,
    int Calls, double CallP50Microseconds, double CallP99Microseconds, double CallMeanMicroseconds,
    double FloorP50Microseconds, double FloorP99Microseconds,
    string LoadAverageBefore, string LoadAverageAfter);

/// <summary>
/// Transport benchmarks: a tensor transfer between two real silo processes over the data plane,
/// against raw TCP on loopback measured in the same run (both receivers drain into a 2 MiB scratch
/// buffer, both senders wait for a 9-byte acknowledgement per transfer); and the round trip of a small
/// grain call (client → silo, <see cref="ISiloGrain.PingAsync"/>) over HTTP/2 next to the transport floor.
/// </summary>
public static class TransportBenchmarks
{
    private const int Rounds = 5;

    public static async Task<TransportBenchResult> RunAsync(TransportBenchOptions options, CancellationToken cancellationToken = default)
    {
        var loadBefore = LoadAverage();
        var secretText = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var env = new Dictionary<string, string> { ["ALPA_SECRET"] = secretText };
        var a = $"127.0.0.1:{SiloProcess.FreePort()}";
        var b = $"127.0.0.1:{SiloProcess.FreePort()}";
        string[] Args() => ["--devices", "cpu:1", "--membership", $"static:{a}", "--cluster-id", "bench"];
        await using var siloA = await SiloProcess.StartAsync(a, Args(), Path.Combine(options.WorkDirectory, "a"), env).ConfigureAwait(false);
        await using var siloB = await SiloProcess.StartAsync(b, Args(), Path.Combine(options.WorkDirectory, "b"), env).ConfigureAwait(false);
        using var client = await AlpaClient.ConnectAsync(a, ClusterSecret.FromText(secretText), cancellationToken).ConfigureAwait(false);
        await WaitForActiveAsync(client, 2, cancellationToken).ConfigureAwait(false);

        // Interleaved rounds, so that both paths see the same background load.
        var sender = client.GetGrain<ISiloGrain>(a);
        await sender.MeasureLinkAsync(new LinkProbeRequest(b, options.TensorBytes, 1), cancellationToken).ConfigureAwait(false);
        var rawSeconds = new List<double>();
        var siloSeconds = new List<double>();
        var perRound = Math.Max(1, options.Transfers / Rounds);
        for (var round = 0; round < Rounds; round++)
        {
            rawSeconds.AddRange(await RawTcpSecondsAsync(options.TensorBytes, perRound, cancellationToken).ConfigureAwait(false));
            var reply = await sender.MeasureLinkAsync(new LinkProbeRequest(b, options.TensorBytes, perRound), cancellationToken).ConfigureAwait(false);
            siloSeconds.AddRange(reply.Seconds);
        }
        var raw = GiBPerSecond(options.TensorBytes, Median(rawSeconds));
        var silo = GiBPerSecond(options.TensorBytes, Median(siloSeconds));
        var (p50, p99, mean) = await GrainCallLatencyAsync(client, options.Calls, cancellationToken).ConfigureAwait(false);
        var (bareP50, bareP99, _) = await TransportFloorAsync(a, ClusterSecret.FromText(secretText), options.Calls, cancellationToken).ConfigureAwait(false);
        return new TransportBenchResult(Machine(), DateTimeOffset.UtcNow.ToString("u", System.Globalization.CultureInfo.InvariantCulture),
            options.TensorBytes, rawSeconds.Count, raw, silo, silo / raw, options.Calls, p50, p99, mean, bareP50, bareP99, loadBefore, LoadAverage());
    }

    /// <summary>Writes <c>transport.json</c> and <c>transport.md</c> into <paramref name="directory"/>.</summary>
    public static void WriteResults(TransportBenchResult result, string command, string directory)
    {
        Directory.CreateDirectory(directory);
        var json = JsonSerializer.Serialize(new { command, result }, new JsonSerializerOptions
        {
            WriteIndented = true,
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        });
        File.WriteAllText(Path.Combine(directory, "transport.json"), json + "\n");
        File.WriteAllText(Path.Combine(directory, "transport.md"), $"""
            # Transport benchmark

            - command: `{command}`
            - machine: {result.Machine}
            - date: {result.Date}
            - load average (1/5/15 min) before / after: {result.LoadAverageBefore} / {result.LoadAverageAfter}

            Transfers: medians of per-transfer times (send start to the receiver's acknowledgement), raw TCP
            and silo → silo measured in {Rounds} interleaved rounds so that both see the same background load.
            Calls: sequential, after a 2 s warm-up. On a shared machine read them with the load average.

            | measurement | value |
            |---|---|
            | raw TCP loopback, {result.TensorBytes >> 20} MiB × {result.Transfers} | {result.RawTcpGibps:F2} GiB/s |
            | silo → silo data plane (two processes), same tensors | {result.SiloToSiloGibps:F2} GiB/s |
            | ratio silo / raw | {result.RatioToRaw:P0} |
            | small grain call round trip (client → silo, HTTP/2), {result.Calls} calls | p50 {result.CallP50Microseconds:F0} µs, p99 {result.CallP99Microseconds:F0} µs, mean {result.CallMeanMicroseconds:F0} µs |
            | transport floor: signed h2c POST to the same silo, answered 404 after authentication | p50 {result.FloorP50Microseconds:F0} µs, p99 {result.FloorP99Microseconds:F0} µs |

            """);
    }

    /// <summary>Waits up to 30 s until <paramref name="silos"/> silos are active.</summary>
    internal static async Task WaitForActiveAsync(AlpaClient client, int silos, CancellationToken token)
    {
        for (var i = 0; i < 300; i++)
        {
            var listing = await client.GetClusterAsync(token).ConfigureAwait(false);
            if (listing.Silos.Count(s => s.Status == "active") >= silos)
            {
                return;
            }
            await Task.Delay(100, token).ConfigureAwait(false);
        }
        throw new Alpa.Planner.AlpaException($"the benchmark cluster did not reach {silos} active silos in 30 s");
    }

    /// <summary>Raw TCP on loopback: the same payload, framing cost excluded, one ack per transfer.</summary>
    public static async Task<double> RawTcpGibpsAsync(long bytes, int transfers, CancellationToken token) =>
        GiBPerSecond(bytes, Median(await RawTcpSecondsAsync(bytes, transfers, token).ConfigureAwait(false)));

    /// <summary>Seconds per transfer of raw TCP on loopback (after one warm-up transfer).</summary>
    public static async Task<List<double>> RawTcpSecondsAsync(long bytes, int transfers, CancellationToken token)
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var receiver = Task.Run(async () =>
        {
            using var socket = await listener.AcceptSocketAsync(token).ConfigureAwait(false);
            var scratch = new byte[2 << 20];
            var ack = new byte[9];
            for (var t = 0; t <= transfers; t++)
            {
                for (var left = bytes; left > 0;)
                {
                    left -= await socket.ReceiveAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, left)), token).ConfigureAwait(false);
                }
                await socket.SendAsync(ack, token).ConfigureAwait(false);
            }
        }, token);
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await client.ConnectAsync(IPAddress.Loopback, port, token).ConfigureAwait(false);
        var payload = new byte[bytes];
        payload.AsSpan().Fill(0x5A);
        var reply = new byte[9];
        var seconds = new List<double>();
        for (var t = 0; t <= transfers; t++)
        {
            var start = Stopwatch.GetTimestamp();
            await client.SendAsync(payload, token).ConfigureAwait(false);
            for (var got = 0; got < reply.Length;)
            {
                got += await client.ReceiveAsync(reply.AsMemory(got), token).ConfigureAwait(false);
            }
            if (t > 0)
            {
                seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
        }
        await receiver.ConfigureAwait(false);
        return seconds;
    }

    private static Task<(double P50, double P99, double Mean)> GrainCallLatencyAsync(AlpaClient client, int calls, CancellationToken token)
    {
        var silo = client.GetGrain<ISiloGrain>(GrainKeys.Gateway);
        var ping = new PingRequest(0);
        return LatencyAsync(() => silo.PingAsync(ping, token), calls);
    }

    /// <summary>
    /// The floor under a grain call, across the same process boundary: a signed HTTP/2 POST to the
    /// silo for a grain that does not exist, answered 404 right after authentication (no JSON
    /// decoding, no dispatch).
    /// </summary>
    private static async Task<(double P50, double P99, double Mean)> TransportFloorAsync(string address, ClusterSecret secret, int calls, CancellationToken token)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, EnableMultipleHttp2Connections = false });
        const string path = "/grain/INoSuchGrain/x/Nothing";
        var uri = new Uri($"http://{address}{path}");
        return await LatencyAsync(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, uri)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                Content = new ByteArrayContent([]),
            };
            var (ts, nonce, sig) = CallSignature.Create(secret, "POST", path, CallSignature.NowMs());
            request.Headers.Add(CallSignature.TimestampHeader, ts);
            request.Headers.Add(CallSignature.NonceHeader, nonce);
            request.Headers.Add(CallSignature.SignatureHeader, sig);
            using var response = await http.SendAsync(request, token).ConfigureAwait(false);
            await response.Content.ReadAsByteArrayAsync(token).ConfigureAwait(false);
        }, calls).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="call"/> for 2 s to warm up, then times <paramref name="calls"/> sequential calls.</summary>
    private static async Task<(double P50, double P99, double Mean)> LatencyAsync(Func<Task> call, int calls)
    {
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed < TimeSpan.FromSeconds(2))
        {
            await call().ConfigureAwait(false);
        }
        var micros = new double[calls];
        for (var i = 0; i < calls; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await call().ConfigureAwait(false);
            micros[i] = Stopwatch.GetElapsedTime(start).TotalMicroseconds;
        }
        Array.Sort(micros);
        return (micros[calls / 2], micros[Math.Min(calls - 1, (int)(calls * 0.99))], micros.Average());
    }

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    private static double GiBPerSecond(long bytes, double seconds) => bytes / seconds / (1L << 30);

    internal static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";

    internal static string Machine() =>
        $"{Environment.ProcessorCount} cores {RuntimeInformation.ProcessArchitecture}, {RuntimeInformation.OSDescription}, .NET {Environment.Version}";
}
