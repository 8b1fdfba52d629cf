using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;

namespace Alpa.Tests.Silo;

/// <summary>With a certificate configured, grain calls (HTTP/2 over TLS) and the data plane (TLS) work end to end.</summary>
[Collection(SiloProcessCollection.Name)]
public sealed class TlsTests
{
    [Fact]
    public async Task TwoSilos_FormACluster_AndMoveTensors_OverTls()
    {
        var a = TestCluster.NewAddress();
        var b = TestCluster.NewAddress();
        await using var cluster = new TestCluster($"static:{a}");
        var (pfx, crt) = WriteSelfSignedCertificate(cluster.Directory);
        var env = new Dictionary<string, string>
        {
            ["ALPA_Silo__Tls__CertificatePath"] = pfx,
            ["ALPA_Silo__Tls__CertificatePassword"] = "test-password",
            ["ALPA_Silo__Tls__TrustedCertificatePath"] = crt,
        };
        await cluster.StartAsync(a, 1, env);
        await cluster.StartAsync(b, 1, env);

        var tls = new TransportOptions { Secret = cluster.Secret, UseTls = true, TrustedCertificatePath = crt };
        using var client = await AlpaClient.ConnectAsync(b, tls);
        for (var i = 0; i < 50 && (await client.GetClusterAsync()).Silos.Count(s => s.Status == "active") < 2; i++)
        {
            await Task.Delay(200);
        }
        Assert.Equal(2, (await client.GetClusterAsync()).Silos.Count(s => s.Status == "active"));
        var reply = await client.GetGrain<ISiloGrain>(a).MeasureLinkAsync(new LinkProbeRequest(b, 1 << 20, 2));
        Assert.Equal(2, reply.Seconds.Count);

        await Assert.ThrowsAsync<SiloUnavailableException>(() =>
            AlpaClient.ConnectAsync(b, new TransportOptions { Secret = cluster.Secret, DefaultTimeout = TimeSpan.FromSeconds(2) }));
    }

    internal static (string Pfx, string Crt) WriteSelfSignedCertificate(string directory)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=alpa-test-cluster", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Path.Combine(directory, "silo.pfx");
        var crt = Path.Combine(directory, "silo.crt");
        File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "test-password"));
        File.WriteAllText(crt, certificate.ExportCertificatePem());
        return (pfx, crt);
    }
}
