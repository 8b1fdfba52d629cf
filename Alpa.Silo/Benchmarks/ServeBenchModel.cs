using System.Security.Cryptography;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Planner.Models;
using Alpa.Silo.Hosting.Bench;
using Alpa.Silo.Serving;

namespace Alpa.Silo.Benchmarks;

/// <summary>
/// The model a <see cref="ServeBenchCase"/> serves: stages in this process, or (<see cref="ServeBenchCase.Silos"/> &gt; 0)
/// one stage per real <c>alpa silo</c> process on loopback, started for the case and stopped after it.
/// </summary>
internal sealed class ServeBenchModel : IAsyncDisposable
{
    private readonly List<SiloProcess> _silos = [];
    private AlpaClient? _client;
    private string? _folder;

    public IGenerationModel Model { get; private set; } = null!;

    public static async Task<ServeBenchModel> CreateAsync(ServeBenchCase c, GptSpec spec, int slots, TextWriter log)
    {
        var bench = new ServeBenchModel();
        try
        {
            if (c.Silos == 0)
            {
                var setup = new ServingSetupOptions { Spec = spec, Devices = c.Devices, Stages = c.Stages, Layout = new GenerationLayout { Slots = slots, PrefillChunk = 16 } };
                bench.Model = ServingSetup.Create(setup, GenerationModel.NominalCpu(c.Devices), log);
            }
            else bench.Model = await bench.StartSilosAsync(c, spec, slots, log).ConfigureAwait(false);
            return bench;
        }
        catch
        {
            await bench.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<IGenerationModel> StartSilosAsync(ServeBenchCase c, GptSpec spec, int slots, TextWriter log)
    {
        _folder = Path.Combine(Path.GetTempPath(), $"alpa-bench-serve-{Guid.NewGuid():N}"[..30]);
        var secret = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        var env = new Dictionary<string, string> { ["ALPA_SECRET"] = secret };
        var addresses = Enumerable.Range(0, c.Silos).Select(_ => $"127.0.0.1:{SiloProcess.FreePort()}").ToList();
        foreach (var (a, i) in addresses.Select((a, i) => (a, i)))
        {
            log.WriteLine($"  starting silo {i + 1}/{addresses.Count} on {a}");
            _silos.Add(await SiloProcess.StartAsync(a, ["--devices", $"cpu:{c.Devices}", "--membership", $"static:{addresses[0]}", "--cluster-id", "bench-serve"],
                Path.Combine(_folder, $"s{i}"), env).ConfigureAwait(false));
        }
        _client = await AlpaClient.ConnectAsync(addresses[0], ClusterSecret.FromText(secret)).ConfigureAwait(false);
        await TransportBenchmarks.WaitForActiveAsync(_client, addresses.Count, default).ConfigureAwait(false);
        var options = new ClusterServingOptions { Spec = spec, Slots = slots, PrefillChunk = 16 };
        return await ClusterGenerationModel.CreateAsync(_client, _ => Task.FromResult<IReadOnlyList<string>>(addresses), options, log).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Model?.Dispose();
        _client?.Dispose();
        foreach (var s in _silos) await s.DisposeAsync().ConfigureAwait(false);
        if (_folder is not null && Directory.Exists(_folder))
        {
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
                // A log file still being flushed; the temp folder is cleaned by the OS eventually.
            }
        }
    }
}
