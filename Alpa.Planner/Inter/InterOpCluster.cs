using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Alpa.Planner.Inter;

/// <summary>
/// The cluster facts the inter-operator pass and the pipeline simulator need: a grid of
/// <see cref="Hosts"/> × <see cref="DevicesPerHost"/> identical devices and two kinds of link.
/// The full cluster spec (device model, calibration, per-axis link sharing) belongs to the
/// intra-operator pass; whoever builds this record from it should pass that spec's hash as
/// <see cref="Hash"/> so that plans name the spec they were made for.
/// </summary>
public sealed record InterOpCluster
{
    /// <summary>Display name, e.g. <c>aws-p3.16xlarge:2x8</c>.</summary>
    public string Name { get; init; } = "cluster";
    /// <summary>Number of hosts N (≥ 1).</summary>
    public required int Hosts { get; init; }
    /// <summary>Devices per host M (a power of two, as in Alpa's submesh space).</summary>
    public required int DevicesPerHost { get; init; }
    /// <summary>Memory of one device in bytes: the budget of the stage memory checks.</summary>
    public required long DeviceMemoryBytes { get; init; }
    /// <summary>Bandwidth between two devices of one host, bytes/s per direction (NVLink per GPU; a memory copy for CPU devices).</summary>
    public required double IntraHostBandwidth { get; init; }
    /// <summary>Latency of one transfer inside a host, seconds.</summary>
    public double IntraHostLatency { get; init; } = 5e-6;
    /// <summary>Network bandwidth of one host, bytes/s per direction (its NIC).</summary>
    public required double InterHostBandwidth { get; init; }
    /// <summary>Latency of one transfer between hosts, seconds.</summary>
    public double InterHostLatency { get; init; } = 2e-5;
    /// <summary>Fixed cost of one instruction of a worker's list (the interpreter's bookkeeping), seconds; 0 for datasheet clusters.</summary>
    public double InstructionSeconds { get; init; }
    /// <summary>Extra fixed cost of one RUN (setting up a stage part) beyond its ops, seconds.</summary>
    public double RunSeconds { get; init; }
    /// <summary>Cores all devices share (local CPU devices), 0 when each computes on its own (<see cref="Cluster.RuntimeOverheads.SharedCores"/>).</summary>
    public int SharedCores { get; init; }
    /// <summary>
    /// With <see cref="SharedCores"/>: a stage computes on one thread (its mesh's devices one after another for small
    /// nodes, <see cref="Cluster.RuntimeOverheads.MeshConcurrentFlops"/>), so a busy stage takes one core, not one per device.
    /// </summary>
    public bool StageThreads { get; init; }
    /// <summary>Hash of the cluster spec this record was derived from; by default a SHA-256 of the fields above.</summary>
    public string? Hash { get; init; }

    /// <summary>Total devices N·M.</summary>
    public int DeviceCount => Hosts * DevicesPerHost;

    /// <summary><see cref="Hash"/>, or the SHA-256 of this record's fields when none was given.</summary>
    public string EffectiveHash => Hash ?? ComputeHash();

    /// <summary>Throws <see cref="InterOpException"/> naming the first field that is out of range.</summary>
    public void Validate()
    {
        if (Hosts < 1) throw Bad(nameof(Hosts), $"hosts must be ≥ 1, got {Hosts}");
        if (DevicesPerHost < 1 || (DevicesPerHost & (DevicesPerHost - 1)) != 0)
            throw Bad(nameof(DevicesPerHost), $"devices per host must be a power of two (Alpa's submesh space (1,1),(1,2),…,(1,M) needs it), got {DevicesPerHost}");
        if (DeviceMemoryBytes <= 0) throw Bad(nameof(DeviceMemoryBytes), $"device memory must be positive, got {DeviceMemoryBytes}");
        if (!(IntraHostBandwidth > 0) || !(InterHostBandwidth > 0))
            throw Bad(nameof(IntraHostBandwidth), "link bandwidths must be positive");
        if (!(IntraHostLatency >= 0) || !(InterHostLatency >= 0))
            throw Bad(nameof(IntraHostLatency), "link latencies must be ≥ 0");
        if (SharedCores < 0) throw Bad(nameof(SharedCores), $"shared cores must be ≥ 0, got {SharedCores}");
    }

    private static InterOpException Bad(string field, string message) =>
        new($"cluster: {message}") { Field = field };

    private string ComputeHash()
    {
        var text = string.Join('|', Hosts, DevicesPerHost, DeviceMemoryBytes,
            IntraHostBandwidth.ToString("R", CultureInfo.InvariantCulture), IntraHostLatency.ToString("R", CultureInfo.InvariantCulture),
            InterHostBandwidth.ToString("R", CultureInfo.InvariantCulture), InterHostLatency.ToString("R", CultureInfo.InvariantCulture));
        return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
    }
}

/// <summary>The inter-operator pass was given options or costs it cannot plan with, or no plan fits.</summary>
public sealed class InterOpException : AlpaException
{
    public InterOpException(string message) : base(message) { }
}
