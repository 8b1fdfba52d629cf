using Alpa.Client.Transport;
using System.Text.Json;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// <c>alpa train --connect … --checkpoint-dir D --recover</c> (the recovery loop in the client) against two real silo
/// processes that speak TLS only: it reaches them through <c>--tls-ca</c>, checkpoints, and with <c>--check</c> its
/// losses and final parameters equal one device's (DESIGN §6), as the plain <c>--connect</c> path's do.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class ConnectRecoveryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task RecoveringTrainOverTls_ChecksAgainstOneDevice()
    {
        var addresses = new[] { TestCluster.NewAddress(), TestCluster.NewAddress() };
        await using var cluster = new TestCluster($"static:{addresses[0]}");
        var (pfx, crt) = TlsTests.WriteSelfSignedCertificate(cluster.Directory);
        var tls = new Dictionary<string, string>(ClusterJobsTests.Patient)
        {
            ["ALPA_Silo__Tls__CertificatePath"] = pfx, ["ALPA_Silo__Tls__CertificatePassword"] = "test-password", ["ALPA_Silo__Tls__TrustedCertificatePath"] = crt,
        };
        foreach (var a in addresses) await cluster.StartAsync(a, 1, tls);
        // The job plans on the silos its gateway lists as active: wait until that view holds both (it refreshes each probe period).
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(30),
            new TransportOptions { Secret = cluster.Secret, UseTls = true, TrustedCertificatePath = crt });
        var directory = Path.Combine(cluster.Directory, "checkpoints");

        var run = await TestCluster.RunAlpaAsync(null, "train", "--connect", addresses[0], "--secret-file", cluster.SecretFile!, "--tls-ca", crt,
            "--model", "gpt-tiny", "--steps", "4", "--microbatches", "2", "--seed", "2", "--checkpoint-dir", directory, "--checkpoint-every", "2",
            "--recover", "--check", "--json");
        output.WriteLine(run.Stderr);
        Assert.True(run.Code == 0, $"exit {run.Code}: {run.Stderr}\n{cluster.Logs()}");
        var json = JsonDocument.Parse(run.Stdout).RootElement;
        Assert.Equal(2, json.GetProperty("silos_of_stage").GetArrayLength());
        Assert.Equal(2, json.GetProperty("checkpoints").GetInt32());
        Assert.True(json.GetProperty("max_loss_rel_diff").GetDouble() <= 1e-4, run.Stdout);
        Assert.True(json.GetProperty("max_param_rel_diff").GetDouble() <= 1e-4, run.Stdout);
        Assert.Contains("check: training the same model on one device", run.Stderr, StringComparison.Ordinal);
    }
}
