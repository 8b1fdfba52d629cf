using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Alpa.Client.Transport;

/// <summary>How clients and silos reach silos.</summary>
public sealed record TransportOptions
{
    /// <summary>The cluster secret; null only against a development silo on loopback.</summary>
    public ClusterSecret? Secret { get; init; }
    /// <summary>Use TLS (https) instead of h2c. Must match the silos' <c>Silo:Tls</c> settings.</summary>
    public bool UseTls { get; init; }
    /// <summary>PEM or DER certificate of the CA (or the self-signed silo certificate) to trust; null trusts the system store.</summary>
    public string? TrustedCertificatePath { get; init; }
    /// <summary>Timeout of a call when no ambient deadline is set (<see cref="GrainCallContext.WithDeadline"/>).</summary>
    public TimeSpan DefaultTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Time allowed to open a TCP connection.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>Longest wait between reconnection attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>Certificate checks shared by the grain transport and the data plane.</summary>
public static class TlsValidation
{
    public static SslClientAuthenticationOptions ClientOptions(TransportOptions options)
    {
        var ssl = new SslClientAuthenticationOptions();
        if (options.TrustedCertificatePath is { } path)
        {
            var trusted = LoadTrusted(path);
            ssl.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                certificate is not null && ValidateAgainst(trusted, new X509Certificate2(certificate), errors);
        }
        return ssl;
    }

    /// <summary>
    /// Every certificate of a PEM file (a bundle of the old and the new CA during a CA rotation), or one DER certificate.
    /// </summary>
    private static X509Certificate2Collection LoadTrusted(string path)
    {
        var trusted = new X509Certificate2Collection();
        if (File.ReadAllText(path).Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
        {
            trusted.ImportFromPemFile(path);
        }
        else
        {
            trusted.Add(X509CertificateLoader.LoadCertificateFromFile(path));
        }
        return trusted;
    }

    private static bool ValidateAgainst(X509Certificate2Collection trusted, X509Certificate2 presented, SslPolicyErrors errors)
    {
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(presented) || trusted.Any(t => t.Thumbprint == presented.Thumbprint);
    }
}
