using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// <c>--membership static:SEED[,SEED…]</c>: one silo, the primary, holds the table in memory and serves it
/// through its <see cref="IMembershipTableGrain"/>; the others call it there. A joining silo asks the listed
/// seeds which primary they follow, so any live member may be listed. Only the first seed may start a new
/// table, and only when no listed seed follows a primary. When the primary stops answering for
/// <see cref="SiloOptions.DeadAfter"/>, the oldest live member of the last table read takes over with that
/// table (the dead primary marked dead) under a larger term (<see cref="PrimaryClaim"/>); see
/// StaticMembershipTable.Failover.cs.
/// </summary>
public sealed partial class StaticMembershipTable(
    IReadOnlyList<string> seeds, SiloIdentity self, IGrainFactory grains, SiloOptions options, ILogger<StaticMembershipTable> logger) : IMembershipTable
{
    private readonly Lock _gate = new();
    private InMemoryMembershipTable? _local;
    private PrimaryClaim _claim = PrimaryClaim.None;
    private MembershipSnapshot? _last;
    private DateTimeOffset? _silentSince;

    /// <summary>Parses the addresses after <c>static:</c> (comma-separated, at least one).</summary>
    public static IReadOnlyList<string> ParseSeeds(string list)
    {
        ArgumentNullException.ThrowIfNull(list);
        var seeds = list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(Alpa.Client.SiloEndpoint.Normalize).Distinct(StringComparer.Ordinal).ToList();
        return seeds.Count > 0 ? seeds
            : throw new Alpa.Planner.AlpaException("--membership static: needs at least one silo address, e.g. static:10.0.0.1:7000,10.0.0.2:7000") { Field = "--membership" };
    }

    /// <summary>The primary this silo follows (itself when it holds the table).</summary>
    public PrimaryClaim Claim
    {
        get
        {
            lock (_gate) return _claim;
        }
    }

    /// <summary>The table when this silo is the primary, else null.</summary>
    public InMemoryMembershipTable? Local
    {
        get
        {
            lock (_gate) return _local;
        }
    }

    /// <summary>
    /// Finds the primary through the seeds (one round; <see cref="MembershipService"/> retries until its join timeout):
    /// adopts the largest claim a seed answers with, or starts a new table when this silo is the first seed and no
    /// seed follows any primary.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (Local is not null) return;
        var others = seeds.Where(s => s != self.Address).ToList();
        var claims = await Task.WhenAll(others.Select(s => AskSeedAsync(s, cancellationToken))).ConfigureAwait(false);
        var best = claims.OfType<PrimaryClaim>().Where(c => c.Primary is not null && c.Primary != self.Address).MaxBy(c => c, ClaimOrder.Instance);
        if (best is not null)
        {
            Adopt(best);
            return;
        }
        if (seeds[0] == self.Address && !claims.Any(c => c?.Primary == self.Address))
        {
            Promote(new InMemoryMembershipTable(), new PrimaryClaim(self.Address, 1));
            return;
        }
        throw new SiloUnavailableException(claims.Any(c => c is not null)
            ? $"the seeds {string.Join(", ", others)} answer but follow no live primary yet (a takeover takes up to {options.DeadAfter.TotalSeconds:F0} s)"
            : $"no seed answers ({string.Join(", ", others)}); is a listed silo running?");
    }

    public async Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken)
    {
        var snapshot = await CallAsync(t => t.ReadAllAsync(cancellationToken), l => l.ReadAllAsync(cancellationToken), cancellationToken).ConfigureAwait(false);
        lock (_gate) _last = snapshot;
        StartClaimCheck(snapshot, cancellationToken);
        return snapshot;
    }

    public async Task<bool> InsertAsync(MembershipEntry entry, long expectedVersion, CancellationToken cancellationToken) =>
        await CallAsync(async t => (await t.InsertAsync(new MembershipWrite(entry, 0, expectedVersion), cancellationToken).ConfigureAwait(false)).Succeeded,
            l => l.InsertAsync(entry, expectedVersion, cancellationToken), cancellationToken).ConfigureAwait(false);

    public async Task<bool> UpdateAsync(MembershipEntry entry, long expectedEtag, long expectedVersion, CancellationToken cancellationToken) =>
        await CallAsync(async t => (await t.UpdateAsync(new MembershipWrite(entry, expectedEtag, expectedVersion), cancellationToken).ConfigureAwait(false)).Succeeded,
            l => l.UpdateAsync(entry, expectedEtag, expectedVersion, cancellationToken), cancellationToken).ConfigureAwait(false);

    public Task HeartbeatAsync(string address, long epoch, DateTimeOffset at, CancellationToken cancellationToken) =>
        CallAsync(async t => { await t.HeartbeatAsync(new HeartbeatRequest(address, epoch, at), cancellationToken).ConfigureAwait(false); return true; },
            async l => { await l.HeartbeatAsync(address, epoch, at, cancellationToken).ConfigureAwait(false); return true; }, cancellationToken);

    /// <summary>One table operation on the local table, or on the primary; a primary that fails counts towards a takeover.</summary>
    private async Task<T> CallAsync<T>(Func<IMembershipTableGrain, Task<T>> remote, Func<InMemoryMembershipTable, Task<T>> local, CancellationToken token)
    {
        var (table, primary) = Current();
        if (table is not null) return await local(table).ConfigureAwait(false);
        if (primary is null) throw new SiloUnavailableException("this silo follows no membership primary yet");
        try
        {
            // A dead primary must fail the call soon (the transport otherwise retries refused connections until 30 s).
            using var deadline = GrainCallContext.WithDeadline(options.ProbeTimeout + options.ProbeTimeout);
            var result = await remote(grains.GetGrain<IMembershipTableGrain>(primary)).ConfigureAwait(false);
            lock (_gate) _silentSince = null;
            return result;
        }
        catch (GrainCallException e) when (e.Kind is GrainErrorKind.Unavailable or GrainErrorKind.DeadlineExceeded or GrainErrorKind.NotFound)
        {
            await OnPrimaryFailedAsync(primary, e, token).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Checks the seed's cluster id (a wrong secret fails here with 401) and returns the primary it follows; null when it does not answer.</summary>
    private async Task<PrimaryClaim?> AskSeedAsync(string seed, CancellationToken token)
    {
        try
        {
            using var deadline = GrainCallContext.WithDeadline(options.ProbeTimeout + options.ProbeTimeout);
            var info = await grains.GetGrain<ISiloGrain>(seed).GetInfoAsync(token).ConfigureAwait(false);
            if (info.ClusterId != options.ClusterId)
            {
                throw new JoinRefusedException(
                    $"the primary silo {seed} belongs to cluster '{info.ClusterId}', but this silo was started with cluster id '{options.ClusterId}'; " +
                    "give every silo the same --cluster-id (Silo:ClusterId)");
            }
            return await grains.GetGrain<IMembershipTableGrain>(seed).ExchangeClaimAsync(Claim, token).ConfigureAwait(false);
        }
        catch (GrainCallException e) when (e is not UnauthorizedCallException)
        {
            LogSeedSilent(seed, e.Message);
            return null;
        }
    }

    private (InMemoryMembershipTable? Table, string? Primary) Current()
    {
        lock (_gate) return (_local, _claim.Primary);
    }

    /// <summary>Claims ordered so that the winning claim is the largest.</summary>
    private sealed class ClaimOrder : IComparer<PrimaryClaim>
    {
        public static readonly ClaimOrder Instance = new();

        public int Compare(PrimaryClaim? x, PrimaryClaim? y) =>
            x is null || y is null ? (x is null ? 0 : 1) - (y is null ? 0 : 1) : x.Beats(y) ? 1 : y.Beats(x) ? -1 : 0;
    }
}
