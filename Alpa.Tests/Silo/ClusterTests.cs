using System.Diagnostics;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Contracts;

namespace Alpa.Tests.Silo;

/// <summary>Three real silo processes on loopback: formation, listing, directory, failure detection, rejoin, clean leave.</summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ClusterTests
{
    /// <summary>Default probe period plus the default dead-after time; the bound is 10 s + one probe period.</summary>
    private static readonly TimeSpan DeathBound = TimeSpan.FromSeconds(11);

    [Fact]
    public async Task StaticMembership_ThreeSilosFormListFailAndRejoin()
    {
        var a = TestCluster.NewAddress();
        await using var cluster = new TestCluster($"static:{a}");
        await RunScenarioAsync(cluster, a, TestCluster.NewAddress(), TestCluster.NewAddress(), killAndRejoin: true);
    }

    [PostgresFact]
    public async Task PostgresMembership_ThreeSilosFormListFailAndRejoin()
    {
        await using var cluster = new TestCluster($"postgres:{PostgresFactAttribute.ConnectionString}");
        await RunScenarioAsync(cluster, TestCluster.NewAddress(), TestCluster.NewAddress(), TestCluster.NewAddress(), killAndRejoin: true);
    }

    /// <summary>Long variant (ALPA_SLOW_TESTS=1): every silo in turn is killed and restarted, three rounds.</summary>
    [SlowFact]
    public async Task RepeatedKillsAndRestarts_AlwaysConverge()
    {
        var membership = PostgresFactAttribute.ConnectionString is { Length: > 0 } pg ? $"postgres:{pg}" : null;
        var addresses = new[] { TestCluster.NewAddress(), TestCluster.NewAddress(), TestCluster.NewAddress() };
        await using var cluster = new TestCluster(membership ?? $"static:{addresses[0]}");
        foreach (var address in addresses)
        {
            await cluster.StartAsync(address, 1);
        }
        for (var round = 0; round < 9; round++)
        {
            var address = addresses[1 + (round % 2)];
            var victim = cluster.Silos.Last(s => s.Address == address);
            victim.Kill();
            var observer = addresses.First(a => a != address);
            await cluster.WaitForAsync(observer, l => l.Silos.Any(s => s.Address == address && s.Epoch == victim.Epoch && s.Status == "dead"),
                DeathBound + TimeSpan.FromSeconds(5));
            var back = await cluster.StartAsync(address, 1);
            Assert.True(back.Epoch > victim.Epoch);
            foreach (var gateway in addresses)
            {
                await cluster.WaitForAsync(gateway, l => l.Silos.Count(s => s.Status == "active") == 3, TimeSpan.FromSeconds(10));
            }
            await AssertDirectoryAgreesAsync(cluster, addresses[0], address);
        }
    }

    private static async Task RunScenarioAsync(TestCluster cluster, string a, string b, string c, bool killAndRejoin)
    {
        await cluster.StartAsync(a, 1);
        await Task.WhenAll(cluster.StartAsync(b, 2), cluster.StartAsync(c, 3));
        foreach (var gateway in new[] { a, b, c })
        {
            await cluster.WaitForAsync(gateway, l => l.Silos.Count(s => s.Status == "active") == 3, TimeSpan.FromSeconds(10));
        }

        await AssertListingAsync(cluster, b, new() { [a] = 1, [b] = 2, [c] = 3 });
        await AssertDirectoryAgreesAsync(cluster, a, c);
        await AssertLinkProbeAsync(cluster, a, b);
        if (!killAndRejoin)
        {
            return;
        }
        var victim = cluster.Silos.Single(s => s.Address == c);
        var oldEpoch = victim.Epoch;
        var watch = Stopwatch.StartNew();
        victim.Kill();
        foreach (var observer in new[] { a, b })
        {
            await cluster.WaitForAsync(observer, l => l.Silos.Any(s => s.Address == c && s.Epoch == oldEpoch && s.Status == "dead"),
                DeathBound + TimeSpan.FromSeconds(5));
        }
        Assert.True(watch.Elapsed <= DeathBound + TimeSpan.FromSeconds(1),
            $"the killed silo was marked dead after {watch.Elapsed.TotalSeconds:F1} s (bound {DeathBound.TotalSeconds} s + polling)");

        var restarted = await cluster.StartAsync(c, 3);
        Assert.True(restarted.Epoch > oldEpoch, $"rejoined with epoch {restarted.Epoch}, expected more than {oldEpoch}");
        foreach (var gateway in new[] { a, b })
        {
            await cluster.WaitForAsync(gateway, l => l.Silos.Any(s => s.Address == c && s.Epoch == restarted.Epoch && s.Status == "active"), TimeSpan.FromSeconds(5));
        }
        await AssertDirectoryAgreesAsync(cluster, b, c);

        var leaving = cluster.Silos.Single(s => s.Address == b);
        Assert.Equal(0, await leaving.StopAsync(TimeSpan.FromSeconds(15)));
        await cluster.WaitForAsync(a, l => l.Silos.Any(s => s.Address == b && s.Epoch == leaving.Epoch && s.Status == "dead"), TimeSpan.FromSeconds(3));
    }

    /// <summary><c>alpa cluster --json</c> (a real CLI process) lists every silo, active, with its devices.</summary>
    private static async Task AssertListingAsync(TestCluster cluster, string via, Dictionary<string, int> cpus)
    {
        var (code, stdout, stderr) = await TestCluster.RunAlpaAsync(null, "cluster", "--connect", via, "--secret-file", cluster.SecretFile!, "--json");
        Assert.True(code == 0, $"alpa cluster failed ({code}): {stderr}");
        using var json = JsonDocument.Parse(stdout);
        var silos = json.RootElement.GetProperty("silos").EnumerateArray()
            .Where(s => s.GetProperty("status").GetString() == "active")
            .ToDictionary(s => s.GetProperty("address").GetString()!, s => s.GetProperty("devices").EnumerateArray().Select(d => d.GetString()!).ToList());
        Assert.Equal(cpus.Keys.Order(), silos.Keys.Order());
        foreach (var (address, count) in cpus)
        {
            Assert.Equal(Enumerable.Range(0, count).Select(i => $"cpu:{i}"), silos[address]);
        }
        Assert.All(json.RootElement.GetProperty("silos").EnumerateArray(), s => Assert.True(s.GetProperty("epoch").GetInt64() >= 1));

        // The secret may come from ALPA_SECRET_FILE; the human listing names every silo.
        var human = await TestCluster.RunAlpaAsync(new Dictionary<string, string> { ["ALPA_SECRET_FILE"] = cluster.SecretFile! }, "cluster", "--connect", via);
        Assert.True(human.Code == 0, human.Stderr);
        Assert.All(cpus.Keys, address => Assert.Contains(address, human.Stdout, StringComparison.Ordinal));

        // A wrong secret fails with one line that says what to check.
        var wrong = await TestCluster.RunAlpaAsync(new Dictionary<string, string> { ["ALPA_SECRET"] = "definitely-the-wrong-secret" }, "cluster", "--connect", via);
        Assert.NotEqual(0, wrong.Code);
        Assert.Single(wrong.Stderr.Trim().Split('\n'));
        Assert.Contains("check the cluster secret", wrong.Stderr, StringComparison.Ordinal);
    }

    /// <summary>An any-silo grain reached through two different gateways is one activation on one live silo.</summary>
    private static async Task AssertDirectoryAgreesAsync(TestCluster cluster, string gateway1, string gateway2)
    {
        using var client1 = await cluster.ConnectAsync(gateway1);
        using var client2 = await cluster.ConnectAsync(gateway2);
        var key = Guid.NewGuid().ToString("N");
        var first = await client1.GetGrain<IEchoGrain>(key).EchoAsync(new EchoRequest("one"));
        var second = await client2.GetGrain<IEchoGrain>(key).EchoAsync(new EchoRequest("two"));
        Assert.Equal(("one", "two"), (first.Text, second.Text));
        Assert.Equal(first.Silo, second.Silo);
        Assert.Equal((1L, 2L), (first.Calls, second.Calls));
        var listing = await client1.GetClusterAsync();
        Assert.Contains(listing.Silos, s => s.Address == first.Silo && s.Status == "active");
    }

    /// <summary>A silo sends tensors to another over the authenticated data plane.</summary>
    private static async Task AssertLinkProbeAsync(TestCluster cluster, string from, string to)
    {
        using var client = await cluster.ConnectAsync(to);
        var reply = await client.GetGrain<ISiloGrain>(from).MeasureLinkAsync(new LinkProbeRequest(to, 4 << 20, 3));
        Assert.Equal(3, reply.Seconds.Count);
        Assert.All(reply.Seconds, s => Assert.InRange(s, 1e-6, 10));
    }
}
