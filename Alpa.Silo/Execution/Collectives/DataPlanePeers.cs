using System.Collections.Concurrent;
using Alpa.Planner.Graph;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Membership;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>Failure detection of <see cref="DataPlanePeers"/>.</summary>
public sealed record PeerWatchOptions
{
    /// <summary>While a collective waits, how often the sender's liveness is checked (membership row, then a zero-byte probe frame).</summary>
    public TimeSpan ProbeInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>How long one probe may take; a probe that times out only means "busy", a broken or refused one means dead.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// <see cref="IPeerTransport"/> over the silo's data plane: sends through <see cref="TensorSender"/>
/// (one acknowledged stream per peer), receives through the <see cref="TensorInbox"/>. A silo is marked
/// failed when a send to it breaks, when membership stops listing it as active, or when a zero-byte probe
/// frame (sent by <see cref="WatchAsync"/> while a collective waits) cannot be delivered because the
/// connection was reset or refused; every pending and later transfer with it then fails at once with
/// <see cref="SiloFailedException"/>.
/// </summary>
public sealed class DataPlanePeers(string self, TensorSender sender, TensorInbox inbox, MembershipView view, PeerWatchOptions? watch = null)
    : IPeerTransport
{
    private readonly PeerWatchOptions _watch = watch ?? new PeerWatchOptions();
    private readonly ConcurrentDictionary<string, PeerState> _peers = new(StringComparer.Ordinal);
    private long _sent;
    private long _received;
    private ulong _probeIds;

    public string Self => self;

    public (long Sent, long Received) Bytes => (Interlocked.Read(ref _sent), Interlocked.Read(ref _received));

    /// <summary>Why <paramref name="peer"/> was marked failed, or null while it is healthy.</summary>
    public string? FailureOf(string peer) => Peer(peer).Failure;

    public async Task SendAsync(string peer, ulong transferId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var state = Peer(peer);
        state.ThrowIfFailed(peer);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, state.Failed.Token);
        try
        {
            await sender.SendAsync(peer, Header(transferId, payload.Length, TensorFrameFlags.None), payload, linked.Token).ConfigureAwait(false);
            Interlocked.Add(ref _sent, payload.Length);
        }
        catch (TensorTransferException e)
        {
            throw MarkFailed(peer, e.Message, e);
        }
        catch (OperationCanceledException) when (state.Failed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new SiloFailedException(peer, state.Failure ?? "failed");
        }
    }

    public async Task ReceiveAsync(string peer, ulong transferId, Memory<byte> destination, CancellationToken cancellationToken)
    {
        var state = Peer(peer);
        state.ThrowIfFailed(peer);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, state.Failed.Token);
        try
        {
            var got = await inbox.ReceiveAsync(transferId, destination, linked.Token).ConfigureAwait(false);
            if (got.Data.Length != destination.Length)
                throw new CollectiveException($"transfer {transferId:x16} from silo {peer} had {got.Data.Length} bytes, expected {destination.Length}; " +
                                              "do both silos run the same program?", peer);
            Interlocked.Add(ref _received, destination.Length);
        }
        catch (OperationCanceledException) when (state.Failed.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new SiloFailedException(peer, state.Failure ?? "failed");
        }
    }

    public void DropUnclaimed(Func<ulong, bool> match) => inbox.DropUnclaimed(match);

    public async Task WatchAsync(IReadOnlyList<string> peers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peers);
        while (true)
        {
            await Task.Delay(_watch.ProbeInterval, cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(peers.Select(p => CheckAliveAsync(p, cancellationToken))).ConfigureAwait(false);
        }
    }

    /// <summary>Checks membership, then sends a zero-byte probe frame; throws when the peer is gone.</summary>
    private async Task CheckAliveAsync(string peer, CancellationToken token)
    {
        Peer(peer).ThrowIfFailed(peer);
        if (view.ActiveRow(peer) is null)
            throw MarkFailed(peer, "membership no longer lists it as active", null);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_watch.ProbeTimeout);
        var id = 0xFFFF_0000_0000_0000UL | Interlocked.Increment(ref _probeIds);
        try
        {
            await sender.SendAsync(peer, Header(id, 0, TensorFrameFlags.Probe), ReadOnlyMemory<byte>.Empty, timeout.Token).ConfigureAwait(false);
        }
        catch (TensorTransferException e)
        {
            throw MarkFailed(peer, $"liveness probe: {e.Message}", e);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            // Busy (a large frame ahead of the probe) is not dead: the call's deadline bounds the wait.
        }
    }

    private SiloFailedException MarkFailed(string peer, string reason, Exception? inner)
    {
        var state = Peer(peer);
        state.Fail(reason);
        var failure = state.Failure ?? reason;
        return inner is null ? new SiloFailedException(peer, failure) : new SiloFailedException(peer, failure, inner);
    }

    private PeerState Peer(string peer) => _peers.GetOrAdd(peer, _ => new PeerState());

    private static TensorHeader Header(ulong id, int bytes, TensorFrameFlags flags)
    {
        if (bytes % 4 != 0) throw new CollectiveException($"transfer {id:x16}: {bytes} bytes is not a whole number of 4-byte elements");
        return new TensorHeader(id, DType.F32, flags, [bytes / 4], 0, 1, bytes);
    }

    private sealed class PeerState
    {
        private string? _failure;

        public CancellationTokenSource Failed { get; } = new();
        public string? Failure => Volatile.Read(ref _failure);

        public void Fail(string reason)
        {
            if (Interlocked.CompareExchange(ref _failure, reason, null) is null) Failed.Cancel();
        }

        public void ThrowIfFailed(string peer)
        {
            if (Failure is { } f) throw new SiloFailedException(peer, f);
        }
    }
}
