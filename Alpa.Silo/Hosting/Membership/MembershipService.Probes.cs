using System.Collections.Concurrent;
using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Hosting.Membership;

public sealed partial class MembershipService
{
    /// <summary>Last successful probe of each other incarnation (address, epoch), or when it was first seen.</summary>
    private readonly ConcurrentDictionary<(string Address, long Epoch), DateTimeOffset> _lastAnswer = new();
    private DateTimeOffset _lastHeartbeat = DateTimeOffset.UtcNow;

    private async Task RunProbeLoopAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(options.ProbePeriod);
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            try
            {
                await ProbeRoundAsync(token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is GrainCallException or Npgsql.NpgsqlException or TimeoutException or IOException)
            {
                LogRoundFailed(e.Message);
            }
        }
    }

    /// <summary>One period: read the table, react to our own death, heartbeat, probe the others, declare the silent dead.</summary>
    private async Task ProbeRoundAsync(CancellationToken token)
    {
        var snapshot = await table.ReadAllAsync(token).ConfigureAwait(false);
        view.Publish(snapshot);
        var own = snapshot.Find(self.Address, self.Epoch);
        if (own is null || own.Status == SiloStatus.Dead)
        {
            LogDeclaredDead(self.Address, self.Epoch);
            await JoinAsync(token).ConfigureAwait(false);
            return;
        }
        if (own.Status == SiloStatus.Joining)
        {
            // This silo joined, but the table holds an older copy of its row: a silo took the static table over from
            // a snapshot read while this one was still joining. Say again that it is active.
            LogRowReasserted(self.Address, self.Epoch);
            await SetOwnStatusAsync(SiloStatus.Active, token).ConfigureAwait(false);
        }
        if (DateTimeOffset.UtcNow - _lastHeartbeat >= options.HeartbeatPeriod)
        {
            _lastHeartbeat = DateTimeOffset.UtcNow;
            await table.HeartbeatAsync(self.Address, self.Epoch, _lastHeartbeat, token).ConfigureAwait(false);
        }
        var others = snapshot.Entries
            .Where(e => e.Status != SiloStatus.Dead && !(e.Address == self.Address && e.Epoch == self.Epoch))
            .ToList();
        foreach (var key in _lastAnswer.Keys.Where(k => !others.Any(o => o.Address == k.Address && o.Epoch == k.Epoch)))
        {
            _lastAnswer.TryRemove(key, out _);
        }
        var results = await Task.WhenAll(others.Select(o => ProbeAsync(o, token))).ConfigureAwait(false);
        foreach (var silent in results.OfType<MembershipEntry>())
        {
            await DeclareDeadAsync(silent, token).ConfigureAwait(false);
        }
    }

    /// <summary>Probes one silo; returns its row when it has been silent for longer than <see cref="SiloOptions.DeadAfter"/>.</summary>
    private async Task<MembershipEntry?> ProbeAsync(MembershipEntry other, CancellationToken token)
    {
        var key = (other.Address, other.Epoch);
        var now = DateTimeOffset.UtcNow;
        var last = _lastAnswer.GetOrAdd(key, now);
        try
        {
            using var deadline = GrainCallContext.WithDeadline(options.ProbeTimeout);
            var reply = await grains.GetGrain<ISiloGrain>(other.Address).PingAsync(new PingRequest(other.Epoch), token).ConfigureAwait(false);
            if (reply.Epoch == other.Epoch)
            {
                _lastAnswer[key] = DateTimeOffset.UtcNow;
                return null;
            }
        }
        catch (GrainCallException e)
        {
            LogProbeFailed(other.Address, other.Epoch, e.Message);
        }
        return DateTimeOffset.UtcNow - last > options.DeadAfter ? other : null;
    }

    /// <summary>Marks a silent incarnation dead (unless someone else already did).</summary>
    private async Task DeclareDeadAsync(MembershipEntry silent, CancellationToken token)
    {
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var snapshot = await table.ReadAllAsync(token).ConfigureAwait(false);
            var row = snapshot.Find(silent.Address, silent.Epoch);
            if (row is null || row.Status == SiloStatus.Dead)
            {
                view.Publish(snapshot);
                return;
            }
            if (await table.UpdateAsync(row with { Status = SiloStatus.Dead }, row.ETag, snapshot.Version, token).ConfigureAwait(false))
            {
                LogDeclaringDead(silent.Address, silent.Epoch, options.DeadAfter.TotalSeconds);
                view.Publish(await table.ReadAllAsync(token).ConfigureAwait(false));
                return;
            }
        }
    }

    [LoggerMessage(LogLevel.Warning, "Declared {Address} epoch {Epoch} dead: no probe answered for {Seconds} s")]
    private partial void LogDeclaringDead(string address, long epoch, double seconds);

    [LoggerMessage(LogLevel.Error, "This silo ({Address} epoch {Epoch}) was declared dead by the cluster; rejoining with a new epoch")]
    private partial void LogDeclaredDead(string address, long epoch);

    [LoggerMessage(LogLevel.Debug, "Probe of {Address} epoch {Epoch} failed: {Reason}")]
    private partial void LogProbeFailed(string address, long epoch, string reason);

    [LoggerMessage(LogLevel.Information, "The membership table listed this silo ({Address} epoch {Epoch}) as joining (a table taken over from an older read); set it active again")]
    private partial void LogRowReasserted(string address, long epoch);

    [LoggerMessage(LogLevel.Warning, "Membership round failed: {Reason}")]
    private partial void LogRoundFailed(string reason);
}
