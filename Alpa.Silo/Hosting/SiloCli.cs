using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Planner;

namespace Alpa.Silo.Hosting;

/// <summary>
/// Entry points of <c>alpa silo</c> and <c>alpa cluster</c> until the CLI framework takes them
/// over: errors print one line on stderr and exit 1 (2 for usage errors).
/// </summary>
public static class SiloCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        try
        {
            return args[0] switch
            {
                "silo" => await RunSiloAsync(args[1..]).ConfigureAwait(false),
                "cluster" => await RunClusterAsync(args[1..]).ConfigureAwait(false),
                _ => throw new AlpaException($"unknown command {args[0]}"),
            };
        }
        catch (AlpaException e)
        {
            await Console.Error.WriteLineAsync($"alpa {args[0]}: {e.Message}").ConfigureAwait(false);
            return e.Field?.StartsWith("--", StringComparison.Ordinal) == true ? 2 : 1;
        }
    }

    private static async Task<int> RunSiloAsync(string[] args)
    {
        var app = SiloHost.Build(SiloCommandLine.ParseSilo(args));
        await using (app.ConfigureAwait(false))
        {
            await app.RunAsync().ConfigureAwait(false);
        }
        return Environment.ExitCode;
    }

    private static async Task<int> RunClusterAsync(string[] args)
    {
        var command = SiloCommandLine.ParseCluster(args);
        var transport = new TransportOptions
        {
            Secret = ClusterSecret.Resolve(command.SecretFile),
            UseTls = command.TlsCa is not null,
            TrustedCertificatePath = command.TlsCa,
            // A one-shot command: the first TLS handshake of a cold process on a busy machine can
            // outlast the 3 s default, which would fail the command for nothing.
            ConnectTimeout = TimeSpan.FromSeconds(15),
        };
        using var client = await AlpaClient.ConnectAsync(command.Connect, transport).ConfigureAwait(false);
        var listing = await client.GetClusterAsync().ConfigureAwait(false);
        if (command.Json)
        {
            await Console.Out.WriteLineAsync(JsonSerializer.Serialize(listing, AlpaJsonContext.Default.ClusterListing)).ConfigureAwait(false);
            return 0;
        }
        await Console.Out.WriteLineAsync($"{"ADDRESS",-24} {"STATUS",-8} {"EPOCH",5}  DEVICES").ConfigureAwait(false);
        foreach (var silo in listing.Silos)
        {
            await Console.Out.WriteLineAsync($"{silo.Address,-24} {silo.Status,-8} {silo.Epoch,5}  {string.Join(",", silo.Devices)}").ConfigureAwait(false);
        }
        return 0;
    }

    /// <summary><c>alpa bench transport [--json] [--out DIR]</c>: runs <see cref="Bench.TransportBenchmarks"/> and writes bench/results/transport.*.</summary>
    public static async Task<int> RunBenchTransportAsync(string[] args)
    {
        var json = args.Contains("--json");
        var outIndex = Array.IndexOf(args, "--out");
        var directory = outIndex > 0 && outIndex + 1 < args.Length ? args[outIndex + 1] : Path.Combine("bench", "results");
        try
        {
            var result = await Bench.TransportBenchmarks.RunAsync(new Bench.TransportBenchOptions()).ConfigureAwait(false);
            Bench.TransportBenchmarks.WriteResults(result, "alpa " + string.Join(' ', args), directory);
            await Console.Out.WriteLineAsync(json
                ? JsonSerializer.Serialize(result)
                : $"tensor {result.TensorBytes >> 20} MiB: raw TCP {result.RawTcpGibps:F2} GiB/s, silo→silo {result.SiloToSiloGibps:F2} GiB/s ({result.RatioToRaw:P0}); " +
                  $"grain call p50 {result.CallP50Microseconds:F0} µs, p99 {result.CallP99Microseconds:F0} µs (transport floor p50 {result.FloorP50Microseconds:F0} µs)").ConfigureAwait(false);
            return 0;
        }
        catch (AlpaException e)
        {
            await Console.Error.WriteLineAsync($"alpa bench transport: {e.Message}").ConfigureAwait(false);
            return 1;
        }
    }
}
