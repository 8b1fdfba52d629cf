using System.Collections.Concurrent;
using Alpa.Planner.Pipeline;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>Boundary tensors of one buffer on their way between stage meshes, as resharding tiles.</summary>
/// <param name="Buffer">The buffer id both lists use (SEND on one side, RECV on the other).</param>
/// <param name="Tiles">The tiles of every tensor of the buffer (<see cref="BoundaryRoutes"/>).</param>
public sealed record BoundaryMessage(BufferId Buffer, IReadOnlyList<BoundaryTile> Tiles)
{
    /// <summary>Bytes of the tiles.</summary>
    public long Bytes => Tiles.Sum(t => t.Data.Elements * 4);
}

/// <summary>
/// Moves boundary tensors between the mesh workers of a job. The in-process implementation hands
/// messages over in memory; a cross-silo one sends them over the silo transport's data plane.
/// </summary>
public interface IBoundaryTransport
{
    /// <summary>Starts delivering a message; returns once it is handed over (the sender may free its copy).</summary>
    ValueTask SendAsync(BoundaryMessage message, CancellationToken cancellationToken);

    /// <summary>Waits for the message of <paramref name="buffer"/>.</summary>
    ValueTask<BoundaryMessage> ReceiveAsync(BufferId buffer, CancellationToken cancellationToken);
}

/// <summary>Boundary transport between workers of one process: one completion slot per buffer id.</summary>
public sealed class InProcessBoundaryTransport : IBoundaryTransport
{
    private readonly ConcurrentDictionary<BufferId, Slot> _slots = new();

    public ValueTask SendAsync(BoundaryMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        cancellationToken.ThrowIfCancellationRequested();
        var slot = SlotOf(message.Buffer);
        if (Interlocked.Exchange(ref slot.Sent, 1) == 1)
            throw new ExecutionException($"{message.Buffer} was sent twice in one step");
        // Completed from the pool's global queue, not here: completing here would run (or queue) the
        // receiver's continuation on this sending thread, where it waits until this worker yields —
        // after its next RUNs — while another core idles (seen as ~300 µs hand-offs). The pool thread
        // that completes it runs the receiver's continuation itself (one hand-off, not two).
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Slot.Completion.TrySetResult(state.Message), (Slot: slot, Message: message), preferLocal: false);
        return ValueTask.CompletedTask;
    }

    public async ValueTask<BoundaryMessage> ReceiveAsync(BufferId buffer, CancellationToken cancellationToken)
    {
        var message = await SlotOf(buffer).Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        _slots.TryRemove(buffer, out _);
        return message;
    }

    private Slot SlotOf(BufferId id) => _slots.GetOrAdd(id, _ => new Slot());

    private sealed class Slot
    {
        // Continuations run on the pool thread that completes it (SendAsync queues the completion to the pool).
        public readonly TaskCompletionSource<BoundaryMessage> Completion = new();
        public int Sent;
    }
}
