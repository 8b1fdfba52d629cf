using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Alpa.Client;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Bench;
using Alpa.Tests.Silo;
using Npgsql;
using Xunit.Abstractions;

namespace Alpa.Tests.Deploy;

/// <summary>
/// Three "hosts" on one machine: a silo in each of three network namespaces (own address, veth pair
/// to a bridge), PostgreSQL membership reached over the bridge, TLS from deploy/tls/make-certs.sh and
/// the cluster secret. <c>alpa cluster --json</c> run inside a namespace lists all three alive;
/// <c>alpa train --connect … --check</c> from a namespace trains across all three like one device; cutting
/// one namespace's link mid-job gets that silo declared dead within the probe bounds and fails the job
/// naming it, and a new job on the two remaining silos succeeds.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class MultiHostTests(ITestOutputHelper output)
{
    private const int Hosts = 3;
    private const int Port = 7000;
    /// <summary>The silo defaults (Silo:ProbePeriod, Silo:DeadAfter): shorter ones flap on a loaded 2-core machine.</summary>
    private static readonly TimeSpan ProbePeriod = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DeadAfter = TimeSpan.FromSeconds(8);

    [RootFact("ip", "openssl", NeedsPostgres = true, NeedsNetworkNamespaces = true)]
    public async Task ThreeNamespaces_PostgresTlsSecret_ListAllAlive_ThenACutLinkIsDeclaredDead()
    {
        await using var net = await NetworkNamespaces.CreateAsync(Hosts);
        await using var schema = await PostgresSchema.CreateAsync();
        await using var relay = new TcpRelay(IPAddress.Parse(net.BridgeAddress), PostgresEndpoint());
        await using var cluster = new TestCluster(
            $"postgres:{new NpgsqlConnectionStringBuilder(schema.ConnectionString) { Host = net.BridgeAddress, Port = relay.Port }}");
        var ca = await MakeCertificatesAsync(net, cluster.Directory);

        var silos = new List<SiloProcess>();
        for (var i = 0; i < Hosts; i++)
        {
            silos.Add(cluster.Adopt(await StartInNamespaceAsync(cluster, net, i, ca)));
        }

        // Step 1: a client inside namespace 0 asks the silo in namespace 1 for the membership, until the
        // third silo's join has reached that silo's view (a join takes up to a probe round to spread).
        var expected = Enumerable.Range(0, Hosts).Select(i => $"{net.Address(i)}:{Port}").Order().ToList();
        var joined = Stopwatch.StartNew();
        List<string> active;
        while (true)
        {
            var (code, stdout, stderr) = await Host.RunAsync(net.Exec(0)[0], [.. net.Exec(0).Skip(1), SiloProcess.DotnetHost(),
                typeof(SiloProcess).Assembly.Location, "cluster", "--connect", $"{net.Address(1)}:{Port}",
                "--secret-file", cluster.SecretFile!, "--tls-ca", ca, "--json"]);
            Assert.True(code == 0, $"alpa cluster from {net.Names[0]} exited {code}: {stderr}\n{cluster.Logs()}");
            active = [.. JsonDocument.Parse(stdout).RootElement.GetProperty("silos").EnumerateArray()
                .Where(s => s.GetProperty("status").GetString() == "active")
                .Select(s => s.GetProperty("address").GetString() ?? "").Order()];
            if (active.SequenceEqual(expected) || joined.Elapsed > DeadAfter + TimeSpan.FromSeconds(7)) break;
            await Task.Delay(500);
        }
        Assert.Equal(expected, active);

        // Step 2: `alpa train --connect … --check` from namespace 0: one stage per namespace, planned on the
        // profiled silos by the PlannerGrain, driven by the DriverGrain on the silo in namespace 0.
        string[] train = [.. net.Exec(0), SiloProcess.DotnetHost(), typeof(SiloProcess).Assembly.Location, "train", "--connect", $"{net.Address(0)}:{Port}",
            "--secret-file", cluster.SecretFile!, "--tls-ca", ca, "--model", "gpt-tiny", "--microbatches", "2"];
        var (trainCode, trainOut, trainErr) = await Host.RunAsync(train[0], [.. train.Skip(1), "--steps", "10", "--check", "--json"], timeout: TimeSpan.FromMinutes(4));
        output.WriteLine(trainErr);
        Assert.True(trainCode == 0, $"alpa train --connect from {net.Names[0]} exited {trainCode}: {trainErr}\n{cluster.Logs()}");
        var trained = JsonDocument.Parse(trainOut).RootElement;
        Assert.Equal(expected, trained.GetProperty("silos_of_stage").EnumerateArray().SelectMany(stage => stage.EnumerateArray()).Select(e => e.GetString() ?? "").Order());
        Assert.True(trained.GetProperty("max_loss_rel_diff").GetDouble() <= 1e-4, trainOut);
        Assert.True(trained.GetProperty("max_param_rel_diff").GetDouble() <= 1e-4, trainOut);

        // Step 3: a long job from namespace 0; once it has run two steps, cut namespace 2's link. The silos in
        // namespaces 0 and 1 declare it dead, and the job fails naming it.
        var victim = $"{net.Address(2)}:{Port}";
        await using var job = LiveProcess.Start([.. train, "--steps", "100000"]);
        await job.WaitForLineAsync(l => l.StartsWith("step 2/", StringComparison.Ordinal), TimeSpan.FromMinutes(3));
        var watch = Stopwatch.StartNew();
        await net.SetLinkAsync(2, up: false);
        var tls = new TransportOptions { Secret = cluster.Secret, UseTls = true, TrustedCertificatePath = ca, ConnectTimeout = TimeSpan.FromSeconds(15) };
        using var client = await AlpaClient.ConnectAsync($"{net.Address(0)}:{Port}", tls);
        var bound = DeadAfter + (2 * ProbePeriod) + TimeSpan.FromSeconds(3);
        while ((await client.GetClusterAsync()).Silos.Any(s => s.Address == victim && s.Status != "dead"))
        {
            Assert.True(watch.Elapsed < bound, $"{victim} not declared dead after {watch.Elapsed.TotalSeconds:F1} s\n{cluster.Logs()}");
            await Task.Delay(200);
        }
        output.WriteLine($"{victim} declared dead {watch.Elapsed.TotalSeconds:F1} s after its link was cut (bound {bound.TotalSeconds:F0} s)");
        var after = await client.GetClusterAsync();
        Assert.Equal([$"{net.Address(0)}:{Port}", $"{net.Address(1)}:{Port}"], after.Silos.Where(s => s.Status == "active").Select(s => s.Address).Order());
        Assert.False(silos[0].HasExited || silos[1].HasExited);
        var (jobCode, jobErr) = await job.WaitForExitAsync(DeadAfter + TimeSpan.FromSeconds(20));
        output.WriteLine($"the job exited {jobCode} {watch.Elapsed.TotalSeconds:F1} s after the cut: {jobErr.Split('\n').LastOrDefault(l => l.StartsWith("alpa:", StringComparison.Ordinal))}");
        Assert.Equal(1, jobCode);
        Assert.Contains($"silo {victim}", jobErr);

        // Failover as far as it goes today: a new job on the two remaining silos succeeds.
        var (againCode, againOut, againErr) = await Host.RunAsync(train[0], [.. train.Skip(1), "--steps", "2", "--json"], timeout: TimeSpan.FromMinutes(3));
        Assert.True(againCode == 0, $"a new job on the remaining silos exited {againCode}: {againErr}");
        Assert.Equal(2, JsonDocument.Parse(againOut).RootElement.GetProperty("silos_of_stage").EnumerateArray().SelectMany(stage => stage.EnumerateArray()).Count());
    }

    private static Task<SiloProcess> StartInNamespaceAsync(TestCluster cluster, NetworkNamespaces net, int i, string ca)
    {
        var address = $"{net.Address(i)}:{Port}";
        var certificates = Path.GetDirectoryName(ca)!;
        var environment = new Dictionary<string, string>
        {
            ["ALPA_Silo__Tls__CertificatePath"] = Path.Combine(certificates, $"host{i}.crt"),
            ["ALPA_Silo__Tls__CertificatePassword"] = Path.Combine(certificates, $"host{i}.key"),
            ["ALPA_Silo__Tls__TrustedCertificatePath"] = ca,
            ["ALPA_Silo__ProbePeriod"] = ProbePeriod.ToString(),
            ["ALPA_Silo__DeadAfter"] = DeadAfter.ToString(),
            ["ALPA_Silo__CreateCluster"] = i == 0 ? "true" : "false",
        };
        string[] args = ["--devices", "cpu:1", "--membership", cluster.Membership, "--cluster-id", cluster.ClusterId,
            "--secret-file", cluster.SecretFile!, "--data-port", (Port + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)];
        return SiloProcess.StartAsync(address, args, Path.Combine(cluster.Directory, $"host{i}"), environment, launcher: net.Exec(i));
    }

    /// <summary>A CA and one certificate per namespace (its address as SAN) from deploy/tls/make-certs.sh; returns the CA path.</summary>
    private static async Task<string> MakeCertificatesAsync(NetworkNamespaces net, string directory)
    {
        var script = Path.Combine(Host.RepoRoot, "deploy", "tls", "make-certs.sh");
        var certificates = Path.Combine(directory, "tls");
        await Host.CheckAsync(script, certificates, "ca");
        for (var i = 0; i < Hosts; i++)
        {
            await Host.CheckAsync(script, certificates, "silo", $"host{i}", net.Address(i));
        }
        return Path.Combine(certificates, "ca.crt");
    }

    private static DnsEndPoint PostgresEndpoint()
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresFactAttribute.ConnectionString);
        return new DnsEndPoint(builder.Host ?? "127.0.0.1", builder.Port);
    }
}
