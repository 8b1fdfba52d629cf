using System.Diagnostics;
using System.Security.Cryptography;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Bench;

namespace Alpa.Tests.Silo;

/// <summary>Runs only when ALPA_TEST_POSTGRES holds a connection string (scripts/postgres.sh sets it).</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute()
    {
        if (string.IsNullOrEmpty(ConnectionString))
        {
            Skip = "ALPA_TEST_POSTGRES is not set: run `source scripts/postgres.sh` (installs and starts PostgreSQL) before the tests";
        }
    }

    public static string? ConnectionString => Environment.GetEnvironmentVariable("ALPA_TEST_POSTGRES");
}

/// <summary>Long variants: run only with ALPA_SLOW_TESTS=1.</summary>
public sealed class SlowFactAttribute : FactAttribute
{
    public SlowFactAttribute()
    {
        if (Environment.GetEnvironmentVariable("ALPA_SLOW_TESTS") != "1")
        {
            Skip = "long variant: set ALPA_SLOW_TESTS=1 to run it";
        }
    }
}

/// <summary>Tests that start silo processes run one at a time (they share two cores and probe deadlines).</summary>
[CollectionDefinition(Name)]
public sealed class SiloProcessCollection
{
    public const string Name = "silo processes";
}

/// <summary>A set of real <c>alpa silo</c> processes on loopback sharing a secret, in a temp folder.</summary>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly List<SiloProcess> _silos = [];

    public TestCluster(string membership, bool withSecret = true)
    {
        Directory = Path.Combine(Path.GetTempPath(), "alpa-tests", Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        ClusterId = "t" + Guid.NewGuid().ToString("N")[..10];
        Membership = membership;
        if (withSecret)
        {
            SecretText = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
            SecretFile = Path.Combine(Directory, "secret");
            File.WriteAllText(SecretFile, SecretText + "\n");
        }
    }

    public string Directory { get; }
    public string ClusterId { get; }
    public string Membership { get; set; }
    public string? SecretText { get; }
    public string? SecretFile { get; }
    public ClusterSecret? Secret => SecretText is null ? null : ClusterSecret.FromText(SecretText);
    public IReadOnlyList<SiloProcess> Silos => _silos;
    /// <summary>A command that execs each silo started from now on, e.g. <c>nice -n 15</c>; none by default.</summary>
    public IReadOnlyList<string>? Launcher { get; set; }

    public static string NewAddress() => $"127.0.0.1:{SiloProcess.FreePort()}";

    public async Task<SiloProcess> StartAsync(string address, int cpus, IReadOnlyDictionary<string, string>? environment = null, params string[] extraArgs)
    {
        var args = new List<string> { "--devices", $"cpu:{cpus}", "--membership", Membership, "--cluster-id", ClusterId };
        args.AddRange(extraArgs);
        if (SecretFile is not null)
        {
            args.AddRange(["--secret-file", SecretFile]);
        }
        var silo = await SiloProcess.StartAsync(address, args, Path.Combine(Directory, address.Replace(':', '_')), environment, launcher: Launcher);
        _silos.Add(silo);
        return silo;
    }

    /// <summary>Takes a silo started elsewhere (e.g. in a network namespace) into this cluster: logs, and killed on dispose.</summary>
    public SiloProcess Adopt(SiloProcess silo)
    {
        _silos.Add(silo);
        return silo;
    }

    public Task<AlpaClient> ConnectAsync(string address) => AlpaClient.ConnectAsync(address, Secret);

    /// <summary>Polls <paramref name="condition"/> on the listing seen through <paramref name="address"/> until it holds.</summary>
    /// <param name="transport">How to connect (e.g. TLS); default: the cluster's secret over plain HTTP/2.</param>
    public async Task<ClusterListing> WaitForAsync(string address, Func<ClusterListing, bool> condition, TimeSpan timeout, TransportOptions? transport = null)
    {
        using var client = transport is null ? await ConnectAsync(address) : await AlpaClient.ConnectAsync(address, transport);
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var listing = await client.GetClusterAsync();
            if (condition(listing))
            {
                return listing;
            }
            if (watch.Elapsed > timeout)
            {
                throw new TimeoutException($"cluster did not reach the expected state in {timeout.TotalSeconds} s; last listing: " +
                    string.Join("; ", listing.Silos.Select(s => $"{s.Address} {s.Status} e{s.Epoch}")) + "\n" + Logs());
            }
            await Task.Delay(200);
        }
    }

    /// <summary>The JSON-lines log file(s) of the silo at <paramref name="address"/>, concatenated.</summary>
    public string LogFile(string address) => string.Concat(System.IO.Directory
        .GetFiles(Path.Combine(Directory, address.Replace(':', '_'), "logs"), "alpa-silo-*.log")
        .Select(f => { using var s = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite); return new StreamReader(s).ReadToEnd(); }));

    public string Logs() => string.Join("\n----\n", _silos.Select(s => $"{s.Address}:\n{Tail(s.Log, 40)}"));

    private static string Tail(string text, int lines) => string.Join('\n', text.Split('\n').TakeLast(lines));

    /// <summary>Runs <c>dotnet alpa.dll ARGS</c> and returns (exit code, stdout, stderr).</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAlpaAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(SiloProcess.DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(typeof(SiloProcess).Assembly.Location);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment.Remove("ALPA_SECRET");
        info.Environment.Remove("ALPA_SECRET_FILE");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos)
        {
            await silo.DisposeAsync();
        }
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A log file still being flushed; the temp folder is cleaned by the OS eventually.
        }
    }
}
