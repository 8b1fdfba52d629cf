using Alpa.Client.Membership;

namespace Alpa.Client.Contracts;

/// <summary>
/// The membership table served by the primary silo under <c>--membership static:SEEDS</c>
/// (key: the primary's address). Same operations and optimistic concurrency as the PostgreSQL table.
/// Every silo serves it: one that is not the primary answers the table calls with <c>not-found</c>
/// and <see cref="ExchangeClaimAsync"/> with the primary it follows.
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

    /// <summary>
    /// Tells this silo which primary the caller follows and returns the primary this silo follows after
    /// comparing the two (the larger claim wins on both sides, see <see cref="PrimaryClaim"/>).
    /// </summary>
    Task<PrimaryClaim> ExchangeClaimAsync(PrimaryClaim caller, CancellationToken cancellationToken = default);
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

/// <summary>
/// Which silo holds the static membership table, as one silo believes it. Claims are ordered by
/// <see cref="Term"/> (bumped by every takeover), then by the smaller address; every silo follows the
/// largest claim it hears of, so two silos that took over at once agree on one primary.
/// </summary>
/// <param name="Primary">Address of the primary; null while the silo knows none (still joining).</param>
/// <param name="Term">1 for the silo that started the table, plus one per takeover.</param>
public sealed record PrimaryClaim(string? Primary, long Term)
{
    /// <summary>A silo that follows no primary yet.</summary>
    public static PrimaryClaim None { get; } = new(null, 0);

    /// <summary>True when this claim wins over <paramref name="other"/>.</summary>
    public bool Beats(PrimaryClaim other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Primary is not null && (other.Primary is null || Term > other.Term
            || (Term == other.Term && string.CompareOrdinal(Primary, other.Primary) < 0));
    }
}

public sealed record HeartbeatRequest(string Address, long Epoch, DateTimeOffset At);
