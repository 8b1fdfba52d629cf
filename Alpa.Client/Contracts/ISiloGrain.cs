using Alpa.Client.Membership;

namespace Alpa.Client.Contracts;

/// <summary>
/// One per silo (key: the silo address, or <see cref="GrainKeys.Gateway"/>): what the silo is,
/// what it sees of the cluster, its call counters, and the probes failure detection and link
/// measurement use.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface ISiloGrain : IGrain
{
    /// <summary>The silo's address, epoch, devices and process facts.</summary>
    Task<SiloInfo> GetInfoAsync(CancellationToken cancellationToken = default);

    /// <summary>Liveness probe: answers with the silo's epoch.</summary>
    Task<PingReply> PingAsync(PingRequest request, CancellationToken cancellationToken = default);

    /// <summary>The membership table as this silo last read it.</summary>
    Task<MembershipSnapshot> GetMembershipAsync(CancellationToken cancellationToken = default);

    /// <summary>Per grain method: calls, errors and latency since the silo started.</summary>
    Task<GrainMetricsReport> GetMetricsAsync(CancellationToken cancellationToken = default);

    /// <summary>Sends synthetic tensors to another silo over the data plane and times them.</summary>
    Task<LinkProbeReply> MeasureLinkAsync(LinkProbeRequest request, CancellationToken cancellationToken = default);
}

/// <summary>A diagnostic grain placed on any live silo: echoes its input and says where it runs.</summary>
[GrainPlacement(GrainPlacement.AnyLiveSilo)]
public interface IEchoGrain : IGrain
{
    Task<EchoReply> EchoAsync(EchoRequest request, CancellationToken cancellationToken = default);
}

/// <summary>Facts about one silo.</summary>
public sealed record SiloInfo
{
    /// <summary>Advertised control-plane address, <c>host:port</c>.</summary>
    public required string Address { get; init; }
    /// <summary>Incarnation number; a restarted silo gets a larger one.</summary>
    public required long Epoch { get; init; }
    /// <summary>TCP port of the tensor data plane on the same host.</summary>
    public required int DataPort { get; init; }
    /// <summary>Devices this silo owns, e.g. <c>cpu:0</c>, <c>cuda:1</c>.</summary>
    public required IReadOnlyList<string> Devices { get; init; }
    /// <summary>Cluster the silo belongs to.</summary>
    public required string ClusterId { get; init; }
    /// <summary>Process id of the silo.</summary>
    public required int ProcessId { get; init; }
    /// <summary>Peak working set of the process in bytes.</summary>
    public required long PeakWorkingSetBytes { get; init; }
    /// <summary>Bytes allocated by the process since it started (all threads).</summary>
    public required long TotalAllocatedBytes { get; init; }
    /// <summary>True when the silo runs without a cluster secret (loopback development mode).</summary>
    public required bool Insecure { get; init; }
}

/// <summary>A probe; <see cref="ExpectedEpoch"/> 0 accepts any epoch.</summary>
public sealed record PingRequest(long ExpectedEpoch);

/// <summary>The answering silo's address and epoch.</summary>
public sealed record PingReply(string Address, long Epoch);

public sealed record EchoRequest(string Text);

/// <summary>The echoed text, the silo that ran the activation and how many calls it has served.</summary>
public sealed record EchoReply(string Text, string Silo, long Calls);

/// <summary>Asks a silo to send <see cref="Count"/> tensors of <see cref="Bytes"/> to <see cref="Target"/>.</summary>
public sealed record LinkProbeRequest(string Target, long Bytes, int Count);

/// <summary>Seconds per transfer (sender start to receiver acknowledgement).</summary>
public sealed record LinkProbeReply(long Bytes, IReadOnlyList<double> Seconds);

/// <summary>Counters of one grain method.</summary>
public sealed record GrainMethodMetrics(
    string Grain, string Method, long Calls, long Errors, double MeanMicroseconds, double P50Microseconds, double P99Microseconds);

public sealed record GrainMetricsReport(string Silo, IReadOnlyList<GrainMethodMetrics> Methods);
