using System.Text.Json.Serialization;

namespace Alpa.Client.Membership;

/// <summary>Life cycle of one silo incarnation (one row of the membership table).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<SiloStatus>))]
public enum SiloStatus
{
    /// <summary>Registered, not yet serving.</summary>
    Joining,
    /// <summary>Serving and answering probes.</summary>
    Active,
    /// <summary>Stopped cleanly, or declared dead after missing its probes; never comes back (a restart gets a new epoch).</summary>
    Dead,
}

/// <summary>One row of the membership table: one incarnation of one silo.</summary>
public sealed record MembershipEntry
{
    /// <summary>Advertised control-plane address, <c>host:port</c>.</summary>
    public required string Address { get; init; }
    /// <summary>Incarnation number: (address, epoch) identifies the row.</summary>
    public required long Epoch { get; init; }
    /// <summary>TCP port of the tensor data plane.</summary>
    public required int DataPort { get; init; }
    /// <summary>Devices the silo owns.</summary>
    public required IReadOnlyList<string> Devices { get; init; }
    public required SiloStatus Status { get; init; }
    /// <summary>Last time the silo refreshed its row.</summary>
    public required DateTimeOffset LastHeartbeat { get; init; }
    /// <summary>When the incarnation registered.</summary>
    public required DateTimeOffset StartedAt { get; init; }
    /// <summary>Row version for optimistic concurrency; bumped by every update except heartbeats.</summary>
    public long ETag { get; init; }
}

/// <summary>The whole table and its version (bumped by every insert and status change).</summary>
public sealed record MembershipSnapshot(IReadOnlyList<MembershipEntry> Entries, long Version)
{
    /// <summary>The row of (address, epoch), if present.</summary>
    public MembershipEntry? Find(string address, long epoch) =>
        Entries.FirstOrDefault(e => e.Address == address && e.Epoch == epoch);

    /// <summary>Rows with status <see cref="SiloStatus.Active"/>.</summary>
    public IEnumerable<MembershipEntry> Active => Entries.Where(e => e.Status == SiloStatus.Active);
}
