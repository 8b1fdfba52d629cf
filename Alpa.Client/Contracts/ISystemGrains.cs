using Alpa.Client.Membership;

namespace Alpa.Client.Contracts;

/// <summary>
/// The membership table served by the primary silo under <c>--membership static:ADDR:PORT</c>
/// (key: the primary's address). Same operations and optimistic concurrency as the PostgreSQL table.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
public interface IMembershipTableGrain : IGrain
{
    Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default);

    /// <summary>Inserts a row if the table is still at <see cref="MembershipWrite.ExpectedVersion"/>.</summary>
    Task<MembershipWriteReply> InsertAsync(MembershipWrite write, CancellationToken cancellationToken = default);

    /// <summary>Replaces a row if both its etag and the table version still match.</summary>
    Task<MembershipWriteReply> UpdateAsync(MembershipWrite write, CancellationToken cancellationToken = default);

    /// <summary>Refreshes a row's heartbeat (does not change the table version).</summary>
    Task HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken = default);
}

/// <summary>
/// One partition of the grain directory (key: the silo address that owns the partition). A grain
/// id is owned by the live silo that wins rendezvous hashing over the active silos.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface IDirectoryGrain : IGrain
{
    /// <summary>Returns where a grain lives, placing it first if it lives nowhere.</summary>
    Task<GrainLocation> LookupOrPlaceAsync(DirectoryLookup request, CancellationToken cancellationToken = default);

    /// <summary>Says whether the silo holds an activation of the grain (used on a directory miss).</summary>
    Task<GrainLocation?> FindLocalAsync(DirectoryLookup request, CancellationToken cancellationToken = default);
}

/// <summary>A grain id: interface name and key.</summary>
/// <summary>A directory lookup; <see cref="PreferredSilo"/> (when active) receives a new activation.</summary>
public sealed record DirectoryLookup(string Grain, string Key, string? PreferredSilo = null);

/// <summary>The silo (address and epoch) holding a grain's activation.</summary>
public sealed record GrainLocation(string Silo, long Epoch);

public sealed record MembershipWrite(MembershipEntry Entry, long ExpectedEtag, long ExpectedVersion);

/// <summary><see cref="Succeeded"/> false means another writer got there first: read again and retry.</summary>
public sealed record MembershipWriteReply(bool Succeeded);

public sealed record HeartbeatRequest(string Address, long Epoch, DateTimeOffset At);
