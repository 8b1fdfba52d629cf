namespace Alpa.Silo.Hosting;

/// <summary>
/// Settings of one silo, bound from the <c>Silo</c> configuration section. Sources, later wins:
/// <c>appsettings.json</c> next to the binary, <c>ALPA_</c>-prefixed environment variables
/// (<c>ALPA_Silo__ProbePeriod=00:00:02</c>), then command-line flags. deploy/README.md lists them all.
/// </summary>
public sealed class SiloOptions
{
    /// <summary>Control-plane endpoint to bind, <c>ADDR:PORT</c> (flag <c>--listen</c>). Grain calls, HTTP/2.</summary>
    public string Listen { get; set; } = "";
    /// <summary>Address other silos use to reach this one; defaults to <see cref="Listen"/> (required when listening on 0.0.0.0).</summary>
    public string? Advertise { get; set; }
    /// <summary>TCP port of the tensor data plane; 0 picks a free port (published in the membership table).</summary>
    public int DataPort { get; set; }
    /// <summary>Devices: <c>cpu:N</c> (N logical CPU devices), <c>cuda</c> (every GPU) or <c>cuda:N</c> (flag <c>--devices</c>).</summary>
    public string Devices { get; set; } = "cpu:1";
    /// <summary>
    /// Membership backend: <c>memory</c>, <c>static:SEED[,SEED…]</c> (one silo holds the table; the first seed starts it, any
    /// listed live member lets a silo join, and the oldest live silo takes it over when its holder dies) or <c>postgres:CONNSTR</c>.
    /// </summary>
    public string Membership { get; set; } = "memory";
    /// <summary>Name of the cluster; silos with different ids never see each other in a shared table.</summary>
    public string ClusterId { get; set; } = "default";
    /// <summary>
    /// PostgreSQL membership only: true creates an unknown <see cref="ClusterId"/> on first start (development);
    /// false refuses to start unless the cluster exists (created by deploy/postgres/setup.sh; the installed config sets false).
    /// </summary>
    public bool CreateCluster { get; set; } = true;
    /// <summary>File holding the cluster secret (flag <c>--secret-file</c>; else ALPA_SECRET_FILE / ALPA_SECRET).</summary>
    public string? SecretFile { get; set; }
    /// <summary>
    /// Endpoint of the dashboard and its JSON API (flag <c>--dashboard</c>); <c>off</c> for none. Default
    /// 127.0.0.1:8080 (skipped with a warning when that port is taken). Beyond loopback it requires the cluster secret.
    /// </summary>
    public string? Dashboard { get; set; } = "127.0.0.1:8080";
    /// <summary>Folder of the rolling log files (<c>alpa-silo-PORT-DATE.log</c>, JSON lines).</summary>
    public string LogDirectory { get; set; } = "logs";
    /// <summary>Minimum log level: Verbose, Debug, Information, Warning, Error.</summary>
    public string LogLevel { get; set; } = "Information";
    /// <summary>How often the silo reads the membership table and probes every other silo.</summary>
    public TimeSpan ProbePeriod { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>Time allowed for one probe to answer.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>A silo whose probes have all failed for this long is declared dead (at most 10 s).</summary>
    public TimeSpan DeadAfter { get; set; } = TimeSpan.FromSeconds(8);
    /// <summary>How often the silo refreshes its own row's heartbeat.</summary>
    public TimeSpan HeartbeatPeriod { get; set; } = TimeSpan.FromSeconds(5);
    /// <summary>How long joining may wait for the membership table (e.g. for the primary silo to start).</summary>
    public TimeSpan JoinTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>Accepted clock difference of signed calls; a nonce is remembered this long.</summary>
    public TimeSpan ReplayWindow { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Largest grain-call body in bytes (Kestrel's default of 30 MB is replaced by this).</summary>
    public long MaxMessageBytes { get; set; } = 64L << 20;
    /// <summary>Largest tensor frame accepted by the data plane, in bytes.</summary>
    public long MaxTensorBytes { get; set; } = 4L << 30;
    /// <summary>Bytes of received tensors that nobody has claimed yet that a silo keeps before refusing more.</summary>
    public long MaxUnclaimedTensorBytes { get; set; } = 1L << 30;
    /// <summary>Concurrent grain calls per connection (HTTP/2 streams; Kestrel's default is 100).</summary>
    public int MaxStreamsPerConnection { get; set; } = 1000;
    /// <summary>TLS for the control and data planes; h2c and plain TCP when no certificate is set.</summary>
    public TlsOptions Tls { get; set; } = new();
}

/// <summary>TLS settings (see deploy/README.md, "TLS").</summary>
public sealed class TlsOptions
{
    /// <summary>PKCS#12 (.pfx) or PEM certificate (with its key) this silo presents; enables TLS when set.</summary>
    public string? CertificatePath { get; set; }
    /// <summary>Password of a .pfx certificate, or path of the PEM key file when the PEM certificate holds no key.</summary>
    public string? CertificatePassword { get; set; }
    /// <summary>Certificate of the CA (or the shared self-signed certificate) silos trust when calling each other.</summary>
    public string? TrustedCertificatePath { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(CertificatePath);
}
