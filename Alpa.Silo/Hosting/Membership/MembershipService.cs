using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Planner;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// Joins the cluster once the silo listens (new epoch, row Joining then Active), then every probe
/// period reads the table, probes the other silos directly and declares dead those that missed
/// their probes for <see cref="SiloOptions.DeadAfter"/>; refreshes its heartbeat; rejoins with a new
/// epoch if the cluster declared it dead; on shutdown (SIGTERM) marks its row dead.
/// </summary>
public sealed partial class MembershipService(
    IMembershipTable table,
    MembershipView view,
    SiloIdentity self,
    IGrainFactory grains,
    SiloOptions options,
    IHostApplicationLifetime lifetime,
    ILogger<MembershipService> logger) : BackgroundService
{
    private readonly TaskCompletionSource _joined = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _initialized;

    /// <summary>Completes when the silo first becomes active.</summary>
    public Task Joined => _joined.Task;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await WaitForStartAsync(stoppingToken).ConfigureAwait(false);
        try
        {
            await JoinAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            LogJoinFailed(e, e.Message);
            if (e is JoinRefusedException)
            {
                // One plain line for whoever reads the journal or the terminal, besides the log event.
                await Console.Error.WriteLineAsync($"alpa silo: refused to join: {e.Message}").ConfigureAwait(false);
            }
            _joined.TrySetException(e);
            Environment.ExitCode = 3;
            lifetime.StopApplication();
            return;
        }
        _joined.TrySetResult();
        await RunProbeLoopAsync(stoppingToken).ConfigureAwait(false);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (self.Epoch > 0)
        {
            await LeaveAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task WaitForStartAsync(CancellationToken token)
    {
        var started = new TaskCompletionSource();
        await using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult()).ConfigureAwait(false);
        await started.Task.WaitAsync(token).ConfigureAwait(false);
    }

    /// <summary>Registers a new incarnation: epoch = largest epoch of this address + 1; older incarnations are marked dead.</summary>
    private async Task JoinAsync(CancellationToken token)
    {
        var giveUp = DateTimeOffset.UtcNow + options.JoinTimeout;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                if (!_initialized)
                {
                    await table.InitializeAsync(token).ConfigureAwait(false);
                    _initialized = true;
                }
                if (await TryJoinOnceAsync(token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (UnauthorizedCallException e)
            {
                throw new JoinRefusedException($"the cluster rejected this silo's credentials ({e.Message}); give --secret-file the cluster's secret file");
            }
            catch (GrainCallException e) when (DateTimeOffset.UtcNow < giveUp)
            {
                LogTableUnreachable(e.Message);
            }
            catch (GrainCallException e)
            {
                throw new AlpaException($"could not reach the membership table within {options.JoinTimeout.TotalSeconds:F0} s ({e.Message}); is the primary silo running?", e);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(1000, 50 << Math.Min(attempt, 5))), token).ConfigureAwait(false);
        }
    }

    private async Task<bool> TryJoinOnceAsync(CancellationToken token)
    {
        var snapshot = await table.ReadAllAsync(token).ConfigureAwait(false);
        var mine = snapshot.Entries.Where(e => e.Address == self.Address).ToList();
        var stale = mine.FirstOrDefault(e => e.Status != SiloStatus.Dead);
        if (stale is not null)
        {
            await table.UpdateAsync(stale with { Status = SiloStatus.Dead }, stale.ETag, snapshot.Version, token).ConfigureAwait(false);
            return false;
        }
        var now = DateTimeOffset.UtcNow;
        var entry = new MembershipEntry
        {
            Address = self.Address,
            Epoch = mine.Count == 0 ? 1 : mine.Max(e => e.Epoch) + 1,
            DataPort = self.DataPort,
            Devices = self.Devices,
            Status = SiloStatus.Joining,
            LastHeartbeat = now,
            StartedAt = now,
        };
        if (!await table.InsertAsync(entry, snapshot.Version, token).ConfigureAwait(false))
        {
            return false;
        }
        self.Epoch = entry.Epoch;
        await SetOwnStatusAsync(SiloStatus.Active, token).ConfigureAwait(false);
        view.Publish(await table.ReadAllAsync(token).ConfigureAwait(false));
        LogJoined(self.Address, entry.Epoch, string.Join(",", self.Devices));
        await Console.Out.WriteLineAsync(
            $"alpa silo ready address={self.Address} epoch={entry.Epoch} data-port={self.DataPort} devices={string.Join(",", self.Devices)}").ConfigureAwait(false);
        await Console.Out.FlushAsync(token).ConfigureAwait(false);
        return true;
    }

    /// <summary>Moves this incarnation's row to <paramref name="status"/>, retrying on conflicts.</summary>
    private async Task SetOwnStatusAsync(SiloStatus status, CancellationToken token)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var snapshot = await table.ReadAllAsync(token).ConfigureAwait(false);
            var row = snapshot.Find(self.Address, self.Epoch);
            if (row is null || row.Status == status || row.Status == SiloStatus.Dead)
            {
                return;
            }
            var updated = row with { Status = status, LastHeartbeat = DateTimeOffset.UtcNow };
            if (await table.UpdateAsync(updated, row.ETag, snapshot.Version, token).ConfigureAwait(false))
            {
                return;
            }
            await Task.Delay(Random.Shared.Next(5, 50), token).ConfigureAwait(false);
        }
        throw new AlpaException($"could not set silo {self.Address} to {status}: the membership table kept changing (20 conflicts)");
    }

    private async Task LeaveAsync(CancellationToken token)
    {
        try
        {
            using var deadline = GrainCallContext.WithDeadline(TimeSpan.FromSeconds(5));
            await SetOwnStatusAsync(SiloStatus.Dead, token).ConfigureAwait(false);
            LogLeft(self.Address, self.Epoch);
        }
        catch (Exception e) when (e is GrainCallException or AlpaException or OperationCanceledException or Npgsql.NpgsqlException)
        {
            LogLeaveFailed(e.Message);
        }
    }

    [LoggerMessage(LogLevel.Information, "Joined the cluster as {Address} epoch {Epoch} with devices {Devices}")]
    private partial void LogJoined(string address, long epoch, string devices);

    [LoggerMessage(LogLevel.Information, "Left the cluster: {Address} epoch {Epoch} marked dead")]
    private partial void LogLeft(string address, long epoch);

    [LoggerMessage(LogLevel.Warning, "Could not mark this silo dead on shutdown: {Reason}")]
    private partial void LogLeaveFailed(string reason);

    [LoggerMessage(LogLevel.Warning, "Membership table unreachable, retrying: {Reason}")]
    private partial void LogTableUnreachable(string reason);

    [LoggerMessage(LogLevel.Critical, "Could not join the cluster: {Reason}")]
    private partial void LogJoinFailed(Exception e, string reason);
}
