namespace Alpa.Planner.Cluster;

/// <summary>What one silo measured of its own devices.</summary>
/// <param name="Silo">Silo address (<c>host:port</c>).</param>
/// <param name="Devices">Its devices (they share the silo's cores).</param>
/// <param name="GemmFlops">GEMM FLOP/s the silo reached with all its cores (not per device).</param>
/// <param name="CopyBytesPerSecond">Memory copy bandwidth of the silo (not per device).</param>
/// <param name="MemoryBytesPerDevice">Memory one device may use.</param>
public sealed record SiloDeviceProfile(string Silo, int Devices, double GemmFlops, double CopyBytesPerSecond, long MemoryBytesPerDevice);

/// <summary>A data-plane link measured from <paramref name="From"/> to <paramref name="To"/>.</summary>
/// <param name="LatencySeconds">One small transfer, send to acknowledgement (≈ the α of a transfer).</param>
/// <param name="BytesPerSecond">Large transfers' rate once the latency is taken out (≈ 1/β).</param>
public sealed record SiloLinkProfile(string From, string To, double LatencySeconds, double BytesPerSecond);

/// <summary>
/// Combines per-silo device profiles and measured data-plane links into the <c>local</c> cluster spec the
/// planner plans with (one host per silo). Pure: the silos measure, this only combines.
/// Devices: the slowest silo's rates, divided among its devices and among the silos that share its machine
/// (same host part of the address: they share its cores and memory bus). Links: the slowest measured link
/// and the largest latency, since a pipeline or ring runs at its slowest hop.
/// </summary>
public static class ProfiledCluster
{
    public static ClusterSpec Combine(IReadOnlyList<SiloDeviceProfile> silos, IReadOnlyList<SiloLinkProfile> links)
    {
        ArgumentNullException.ThrowIfNull(silos);
        ArgumentNullException.ThrowIfNull(links);
        if (silos.Count == 0) throw new ClusterSpecException("no silo profile to combine") { Field = "silos" };
        var devices = silos[0].Devices;
        if (silos.Any(s => s.Devices != devices))
            throw new ClusterSpecException($"the silos have different device counts ({string.Join(", ", silos.Select(s => $"{s.Silo}: {s.Devices}"))}); " +
                                           "a cluster spec needs the same count on every silo") { Field = "devices" };
        if (silos.Any(s => s.Devices < 1 || s.GemmFlops <= 0 || s.CopyBytesPerSecond <= 0 || s.MemoryBytesPerDevice <= 0))
            throw new ClusterSpecException("a silo profile has no devices or a non-positive rate") { Field = "silos" };
        var sharing = silos.GroupBy(s => HostOf(s.Silo)).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal);
        double Share(SiloDeviceProfile s) => (double)devices * sharing[HostOf(s.Silo)];
        var gemm = silos.Min(s => s.GemmFlops / Share(s));
        var copy = silos.Min(s => s.CopyBytesPerSecond / Share(s));
        var memory = silos.Min(s => s.MemoryBytesPerDevice);
        var bandwidth = links.Count > 0 ? links.Min(l => l.BytesPerSecond) : copy;
        var spec = BuiltInClusters.ForLocal(silos.Count, devices, gemm, copy, bandwidth, memory);
        var latency = links.Count > 0 ? links.Max(l => l.LatencySeconds) : spec.Calibration.InterHostAlphaSeconds;
        return (spec with
        {
            Calibration = spec.Calibration with
            {
                InterHostAlphaSeconds = Math.Max(latency, 1e-7),
                Source = $"profiled by the silos: {silos.Count} silo(s) × {devices} device(s), {links.Count} data-plane link(s) measured",
            },
        }).Validate();
    }

    /// <summary>The host part of <c>host:port</c> (IPv6 in brackets kept whole).</summary>
    public static string HostOf(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var colon = address.LastIndexOf(':');
        return colon > 0 ? address[..colon] : address;
    }
}
