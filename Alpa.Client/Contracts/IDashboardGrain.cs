namespace Alpa.Client.Contracts;

/// <summary>
/// What a silo shows on the dashboard (key: the silo address): process facts, its grains'
/// activations and call rates, and one activation's state. Any silo's dashboard asks every live silo.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface IDashboardGrain : IGrain
{
    Task<SiloStats> GetStatsAsync(CancellationToken cancellationToken = default);

    Task<GrainStateReply> GetGrainStateAsync(GrainStateRequest request, CancellationToken cancellationToken = default);
}

/// <summary>One silo's process and grain statistics.</summary>
public sealed record SiloStats
{
    public required string Address { get; init; }
    public required long Epoch { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required double UptimeSeconds { get; init; }
    /// <summary>Process CPU over the last sampling period, percent of all cores.</summary>
    public required double CpuPercent { get; init; }
    public required long WorkingSetBytes { get; init; }
    public required long GcHeapBytes { get; init; }
    public required IReadOnlyList<DeviceStats> Devices { get; init; }
    public required IReadOnlyList<GrainTypeStats> Grains { get; init; }
    /// <summary>Per grain method counters with their recent call rate.</summary>
    public required IReadOnlyList<GrainMethodStats> Methods { get; init; }
}

/// <summary>A device and the bytes in use on it (peak live bytes of the last step of the job using it; 0 when idle).</summary>
public sealed record DeviceStats(string Name, long MemoryInUseBytes, string? Job);

/// <summary>Activations and call totals of one grain type on one silo.</summary>
public sealed record GrainTypeStats(string Grain, IReadOnlyList<string> Keys, long Calls, long Errors, double CallsPerSecond, double MeanMicroseconds);

/// <summary>Counters of one grain method with its call rate over the last ~10 s.</summary>
public sealed record GrainMethodStats(string Grain, string Method, long Calls, long Errors, double CallsPerSecond,
    double MeanMicroseconds, double P50Microseconds, double P99Microseconds);

public sealed record GrainStateRequest(string Grain, string Key);

/// <summary>The activation's state as JSON, or a note saying why there is none.</summary>
public sealed record GrainStateReply(string Grain, string Key, string Silo, bool Active, string StateJson);
