using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// Takeover of the static table. The successor of a silent primary is the first live silo of the last table
/// read, in join order (the table keeps rows in insertion order): every silo knows every silo that joined
/// before it, so a recent joiner never disagrees about an older successor, and a successor that is itself
/// silent is skipped. Should two silos take over at once (one did not answer the other in time), claims
/// settle it: the primary exchanges claims with every live silo and the listed seeds each
/// <see cref="SiloOptions.HeartbeatPeriod"/>, and the losing primary hands over (its followers are told
/// where the table went when they call it next).
/// </summary>
public sealed partial class StaticMembershipTable
{
    private DateTimeOffset _lastClaimCheck;
    private int _checkingClaims;

    /// <summary>
    /// Compares the caller's claim with this silo's, follows the larger one and returns it. A claim naming this silo
    /// while it holds no table (an earlier incarnation was the primary) is not followed.
    /// </summary>
    public PrimaryClaim Exchange(PrimaryClaim caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.Primary != self.Address && caller.Beats(Claim))
        {
            Adopt(caller);
        }
        return Claim;
    }

    /// <summary>Follows <paramref name="claim"/>; a primary that loses its table this way logs the handover.</summary>
    private void Adopt(PrimaryClaim claim)
    {
        bool wasPrimary;
        lock (_gate)
        {
            wasPrimary = _local is not null;
            _local = null;
            _claim = claim;
            _silentSince = null;
        }
        if (wasPrimary) LogHandedOver(claim.Primary!, claim.Term);
        else LogFollowing(claim.Primary!, claim.Term);
    }

    private void Promote(InMemoryMembershipTable table, PrimaryClaim claim)
    {
        lock (_gate)
        {
            _local = table;
            _claim = claim;
            _silentSince = null;
        }
        LogPrimary(self.Address, claim.Term);
    }

    /// <summary>
    /// The primary failed a call. One that answers but holds no table is asked whom it follows; one that stays
    /// silent (or follows nobody) for <see cref="SiloOptions.DeadAfter"/> is replaced.
    /// </summary>
    private async Task OnPrimaryFailedAsync(string primary, GrainCallException failure, CancellationToken token)
    {
        if (failure.Kind == GrainErrorKind.NotFound && await TryExchangeAsync(primary, token).ConfigureAwait(false) is { Primary: { } next } claim
            && next != primary && next != self.Address)
        {
            if (claim.Beats(Claim)) Adopt(claim);
            return;
        }
        DateTimeOffset since;
        lock (_gate) since = _silentSince ??= DateTimeOffset.UtcNow;
        if (DateTimeOffset.UtcNow - since >= options.DeadAfter)
        {
            await TakeOverAsync(primary, token).ConfigureAwait(false);
        }
    }

    /// <summary>Asks the live silos of the last table, oldest first, until one is (or follows) the successor; promotes this silo when it is the first.</summary>
    private async Task TakeOverAsync(string dead, CancellationToken token)
    {
        MembershipSnapshot? last;
        lock (_gate) last = _last;
        if (last is null) return;
        var candidates = last.Entries.Where(e => e.Status != SiloStatus.Dead && e.Address != dead).Select(e => e.Address).Distinct().ToList();
        foreach (var candidate in candidates)
        {
            if (candidate == self.Address)
            {
                var rows = last.Entries.Select(e => e.Address == dead && e.Status != SiloStatus.Dead ? e with { Status = SiloStatus.Dead, ETag = e.ETag + 1 } : e);
                Promote(new InMemoryMembershipTable(rows, last.Version + 1), new PrimaryClaim(self.Address, Claim.Term + 1));
                LogTookOver(dead, options.DeadAfter.TotalSeconds);
                return;
            }
            if (await TryExchangeAsync(candidate, token).ConfigureAwait(false) is not { } claim)
            {
                continue;
            }
            if (claim.Primary is { } next && next != dead && claim.Beats(Claim)) Adopt(claim);
            // Else the candidate is alive and still follows the dead primary: it will take over itself.
            return;
        }
    }

    /// <summary>
    /// As the primary, each heartbeat period, in the background (a silent peer must not delay the membership round
    /// that detects it): exchanges claims with the live silos and the seeds; hands over to a larger claim.
    /// </summary>
    private void StartClaimCheck(MembershipSnapshot snapshot, CancellationToken token)
    {
        if (Local is null || DateTimeOffset.UtcNow - _lastClaimCheck < options.HeartbeatPeriod || Interlocked.Exchange(ref _checkingClaims, 1) == 1) return;
        _lastClaimCheck = DateTimeOffset.UtcNow;
        _ = Task.Run(async () =>
        {
            try
            {
                await CheckClaimsAsync(snapshot, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // The silo is stopping.
            }
            finally
            {
                Volatile.Write(ref _checkingClaims, 0);
            }
        }, CancellationToken.None);
    }

    private async Task CheckClaimsAsync(MembershipSnapshot snapshot, CancellationToken token)
    {
        var peers = snapshot.Entries.Where(e => e.Status != SiloStatus.Dead).Select(e => e.Address).Concat(seeds)
            .Where(a => a != self.Address).Distinct().ToList();
        var claims = await Task.WhenAll(peers.Select(p => TryExchangeAsync(p, token))).ConfigureAwait(false);
        var best = claims.OfType<PrimaryClaim>().Where(c => c.Primary is not null && c.Primary != self.Address).MaxBy(c => c, ClaimOrder.Instance);
        if (best is not null && best.Beats(Claim))
        {
            Adopt(best);
        }
    }

    /// <summary>The claim of <paramref name="silo"/> after telling it ours; null when it does not answer within the probe timeout.</summary>
    private async Task<PrimaryClaim?> TryExchangeAsync(string silo, CancellationToken token)
    {
        try
        {
            using var deadline = GrainCallContext.WithDeadline(options.ProbeTimeout);
            return await grains.GetGrain<IMembershipTableGrain>(silo).ExchangeClaimAsync(Claim, token).ConfigureAwait(false);
        }
        catch (GrainCallException e)
        {
            LogSeedSilent(silo, e.Message);
            return null;
        }
    }

    [LoggerMessage(LogLevel.Information, "Holding the static membership table as {Address} (term {Term})")]
    private partial void LogPrimary(string address, long term);

    [LoggerMessage(LogLevel.Warning, "Took over the static membership table: the primary {Dead} did not answer for {Seconds} s and was marked dead")]
    private partial void LogTookOver(string dead, double seconds);

    [LoggerMessage(LogLevel.Warning, "Handed the static membership table over to {Primary} (term {Term})")]
    private partial void LogHandedOver(string primary, long term);

    [LoggerMessage(LogLevel.Information, "Following the membership primary {Primary} (term {Term})")]
    private partial void LogFollowing(string primary, long term);

    [LoggerMessage(LogLevel.Debug, "Silo {Address} did not answer a membership claim: {Reason}")]
    private partial void LogSeedSilent(string address, string reason);
}
