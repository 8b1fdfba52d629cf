namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// Point-to-point byte transfers between silos, the layer the cross-silo collectives run on. A transfer
/// is named by a 64-bit id that sender and receiver compute alike; a receive may be posted before or
/// after the matching send. Both fail with <see cref="SiloFailedException"/> naming the peer when it dies.
/// </summary>
public interface IPeerTransport
{
    /// <summary>Address of this process's silo.</summary>
    string Self { get; }

    /// <summary>Sends <paramref name="payload"/> (a multiple of 4 bytes) to <paramref name="peer"/>; completes when the peer has stored it.</summary>
    Task SendAsync(string peer, ulong transferId, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken);

    /// <summary>Receives transfer <paramref name="transferId"/> from <paramref name="peer"/> into exactly <paramref name="destination"/>.</summary>
    Task ReceiveAsync(string peer, ulong transferId, Memory<byte> destination, CancellationToken cancellationToken);

    /// <summary>
    /// Checks <paramref name="peers"/> periodically until cancelled; throws <see cref="SiloFailedException"/> (and fails
    /// every pending transfer with that silo) as soon as one of them is found dead.
    /// </summary>
    Task WatchAsync(IReadOnlyList<string> peers, CancellationToken cancellationToken);

    /// <summary>Bytes this silo has sent to (and received from) other silos through this transport.</summary>
    (long Sent, long Received) Bytes { get; }

    /// <summary>Drops tensors that arrived for transfers whose id satisfies <paramref name="match"/> but were never received (a failed job's leftovers).</summary>
    void DropUnclaimed(Func<ulong, bool> match);
}
