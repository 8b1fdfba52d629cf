namespace Alpa.Silo.Hosting.DataPlane;

/// <summary>A tensor that arrived: its header and its bytes.</summary>
public sealed record ReceivedTensor(TensorHeader Header, Memory<byte> Data);

/// <summary>
/// Where received tensors go. A receiver that knows a transfer id registers its destination buffer
/// first (<see cref="ReceiveAsync"/>): the payload is then read straight into it. A tensor nobody
/// expects yet is kept until claimed, up to <see cref="SiloOptions.MaxUnclaimedTensorBytes"/> in all.
/// </summary>
public sealed class TensorInbox(long maxUnclaimedBytes)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<ulong, Expected> _expected = [];
    private readonly Dictionary<ulong, ReceivedTensor> _unclaimed = [];
    private long _unclaimedBytes;

    /// <summary>Waits for transfer <paramref name="transferId"/> and returns it in <paramref name="destination"/> (which must fit it).</summary>
    public Task<ReceivedTensor> ReceiveAsync(ulong transferId, Memory<byte> destination, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_unclaimed.Remove(transferId, out var early))
            {
                _unclaimedBytes -= early.Data.Length;
                if (early.Data.Length > destination.Length)
                {
                    throw new TensorTransferException($"transfer {transferId} has {early.Data.Length} bytes; the destination holds {destination.Length}");
                }
                early.Data.CopyTo(destination);
                return Task.FromResult(early with { Data = destination[..early.Data.Length] });
            }
            var expected = new Expected(destination, new TaskCompletionSource<ReceivedTensor>(TaskCreationOptions.RunContinuationsAsynchronously));
            if (!_expected.TryAdd(transferId, expected))
            {
                throw new TensorTransferException($"transfer {transferId} is already expected");
            }
            cancellationToken.Register(() =>
            {
                lock (_gate)
                {
                    _expected.Remove(transferId);
                }
                expected.Completion.TrySetCanceled(cancellationToken);
            });
            return expected.Completion.Task;
        }
    }

    /// <summary>The destination of an expected transfer that fits <paramref name="header"/>, removed from the waiting set.</summary>
    internal (Memory<byte> Buffer, TaskCompletionSource<ReceivedTensor> Completion)? Claim(TensorHeader header)
    {
        lock (_gate)
        {
            if (_expected.TryGetValue(header.TransferId, out var e) && e.Destination.Length >= header.PayloadBytes)
            {
                _expected.Remove(header.TransferId);
                return (e.Destination[..(int)header.PayloadBytes], e.Completion);
            }
            return null;
        }
    }

    /// <summary>Reserves room for an unexpected tensor; false when the unclaimed budget is spent.</summary>
    internal bool TryReserve(long bytes)
    {
        lock (_gate)
        {
            if (bytes > Array.MaxLength || _unclaimedBytes + bytes > maxUnclaimedBytes)
            {
                return false;
            }
            _unclaimedBytes += bytes;
            return true;
        }
    }

    internal void ReleaseReservation(long bytes)
    {
        lock (_gate)
        {
            _unclaimedBytes -= bytes;
        }
    }

    /// <summary>Keeps an unexpected tensor (already reserved) until someone claims it, or hands it to a receiver that arrived meanwhile.</summary>
    internal void Store(ReceivedTensor tensor)
    {
        lock (_gate)
        {
            if (_expected.Remove(tensor.Header.TransferId, out var e) && e.Destination.Length >= tensor.Data.Length)
            {
                _unclaimedBytes -= tensor.Data.Length;
                tensor.Data.CopyTo(e.Destination);
                e.Completion.TrySetResult(tensor with { Data = e.Destination[..tensor.Data.Length] });
                return;
            }
            if (_unclaimed.Remove(tensor.Header.TransferId, out var replaced))
            {
                _unclaimedBytes -= replaced.Data.Length;
            }
            _unclaimed[tensor.Header.TransferId] = tensor;
        }
    }

    /// <summary>Drops kept tensors whose transfer id satisfies <paramref name="match"/> (leftovers of a failed job); returns how many.</summary>
    public int DropUnclaimed(Func<ulong, bool> match)
    {
        ArgumentNullException.ThrowIfNull(match);
        lock (_gate)
        {
            var dropped = _unclaimed.Keys.Where(match).ToList();
            foreach (var id in dropped)
            {
                _unclaimedBytes -= _unclaimed[id].Data.Length;
                _unclaimed.Remove(id);
            }
            return dropped.Count;
        }
    }

    /// <summary>Bytes of received tensors nobody has claimed yet.</summary>
    public long UnclaimedBytes
    {
        get
        {
            lock (_gate)
            {
                return _unclaimedBytes;
            }
        }
    }

    private sealed record Expected(Memory<byte> Destination, TaskCompletionSource<ReceivedTensor> Completion);
}
