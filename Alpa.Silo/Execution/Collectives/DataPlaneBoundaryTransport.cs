using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Alpa.Kernels;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Pipeline;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// <see cref="IBoundaryTransport"/> between mesh workers on different silos, over the data plane.
/// Stage s runs on the silos <c>silosOfStage[s]</c> (one silo, or several when its mesh spans silos).
/// A SEND from this silo's part of stage <c>From</c> goes to every silo of stage <c>To</c> as one message
/// holding the tiles whose receivers live there (possibly none), so a RECV takes exactly one message from
/// every silo of the sending stage. The k-th send of a buffer id matches its k-th receive (each step
/// sends each buffer once), so ids differ from step to step. A message travels as two frames: its
/// length, then names, shapes and values; between two stages on the same silo it goes through
/// <see cref="BoundaryMailbox"/> instead. A waiting receive watches the sending silos and fails with
/// <see cref="SiloFailedException"/> naming one when it dies.
/// </summary>
public sealed class DataPlaneBoundaryTransport : IBoundaryTransport
{
    private readonly ConcurrentDictionary<BufferId, long> _sent = new();
    private readonly ConcurrentDictionary<BufferId, long> _received = new();
    private readonly IPeerTransport _peers;
    private readonly IReadOnlyList<IReadOnlyList<string>> _silosOfStage;
    private readonly Func<BoundaryTile, BufferId, IReadOnlyCollection<string>>? _receiverSilos;
    private readonly int _tag;
    private readonly BoundaryMailbox? _mailbox;

    /// <summary>Every stage on one silo: a message goes whole from the silo of its source stage to the silo of its destination stage.</summary>
    public DataPlaneBoundaryTransport(IPeerTransport peers, IReadOnlyList<string> siloOfStage, int tag)
        : this(peers, [.. siloOfStage.Select(s => (IReadOnlyList<string>)[s])], null, tag)
    {
    }

    /// <param name="silosOfStage">The silos of each stage, in the order of their first device on the stage mesh.</param>
    /// <param name="receiverSilos">The silos a tile of a buffer must reach (null: every silo of the destination stage).</param>
    /// <param name="mailbox">Hand-over between stages that share this silo (shared by this silo's workers of the job); null: through the data plane.</param>
    public DataPlaneBoundaryTransport(IPeerTransport peers, IReadOnlyList<IReadOnlyList<string>> silosOfStage,
                                      Func<BoundaryTile, BufferId, IReadOnlyCollection<string>>? receiverSilos, int tag, BoundaryMailbox? mailbox = null)
    {
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(silosOfStage);
        (_peers, _silosOfStage, _receiverSilos, _tag, _mailbox) = (peers, silosOfStage, receiverSilos, tag, mailbox);
    }

    public async ValueTask SendAsync(BoundaryMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var count = _sent.AddOrUpdate(message.Buffer, 0, (_, k) => k + 1);
        var from = Part(message.Buffer.From);
        var destinations = _silosOfStage[message.Buffer.To];
        for (var to = 0; to < destinations.Count; to++)
        {
            var silo = destinations[to];
            var tiles = _receiverSilos is null ? message.Tiles : [.. message.Tiles.Where(t => _receiverSilos(t, message.Buffer).Contains(silo))];
            var id = Id(message.Buffer, count, from, to);
            if (silo == _peers.Self && _mailbox is not null)
            {
                _mailbox.Put(id, new BoundaryMessage(message.Buffer, tiles));
                continue;
            }
            var payload = Encode(tiles);
            var length = new byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(length, payload.Length);
            await _peers.SendAsync(silo, id, length, cancellationToken).ConfigureAwait(false);
            await _peers.SendAsync(silo, id + 1, payload, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask<BoundaryMessage> ReceiveAsync(BufferId buffer, CancellationToken cancellationToken)
    {
        var count = _received.AddOrUpdate(buffer, 0, (_, k) => k + 1);
        var to = Part(buffer.To);
        var sources = _silosOfStage[buffer.From];
        var parts = await Task.WhenAll(sources.Select((silo, from) => ReceivePartAsync(silo, buffer, Id(buffer, count, from, to), cancellationToken)))
            .ConfigureAwait(false);
        return new BoundaryMessage(buffer, [.. parts.SelectMany(p => p)]);
    }

    private async Task<IReadOnlyList<BoundaryTile>> ReceivePartAsync(string from, BufferId buffer, ulong id, CancellationToken cancellationToken)
    {
        if (from == _peers.Self && _mailbox is not null) return (await _mailbox.TakeAsync(id, cancellationToken).ConfigureAwait(false)).Tiles;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watch = from == _peers.Self ? Task.CompletedTask : _peers.WatchAsync([from], cts.Token);
        try
        {
            var length = new byte[8];
            await Race(_peers.ReceiveAsync(from, id, length, cts.Token), watch).ConfigureAwait(false);
            var payload = new byte[checked((int)BinaryPrimitives.ReadInt64LittleEndian(length))];
            await Race(_peers.ReceiveAsync(from, id + 1, payload, cts.Token), watch).ConfigureAwait(false);
            return Decode(payload);
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            try
            {
                await watch.ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or CollectiveException)
            {
                // The receive already reported what mattered.
            }
        }
    }

    /// <summary>This silo's index among the silos of <paramref name="stage"/>.</summary>
    private int Part(int stage)
    {
        var part = _silosOfStage[stage].ToList().IndexOf(_peers.Self);
        return part >= 0 ? part : throw new ExecutionException($"silo {_peers.Self} runs no part of stage {stage}");
    }

    /// <summary>The transfer; the watch's failure instead when the sender died first.</summary>
    private static async Task Race(Task transfer, Task watch)
    {
        if (await Task.WhenAny(transfer, watch).ConfigureAwait(false) == watch && watch.IsFaulted) await watch.ConfigureAwait(false);
        await transfer.ConfigureAwait(false);
    }

    /// <summary>Id of a message's length frame (its payload frame is id + 1; the low bit is clear).</summary>
    private ulong Id(BufferId b, long count, int fromPart, int toPart) =>
        TransferIds.Of(_tag, ((ulong)(uint)b.Kind << 32) | (uint)b.Microbatch, count, 0, (b.From << 8) | fromPart, (b.To << 8) | toPart, 0) & ~1UL;

    /// <summary>count · (name length, name bytes padded to 4, tile index, type, rank, dims, values), little-endian.</summary>
    private static byte[] Encode(IReadOnlyList<BoundaryTile> tiles)
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream);
        w.Write(tiles.Count);
        foreach (var (name, tile, value) in tiles)
        {
            var bytes = Encoding.UTF8.GetBytes(name);
            w.Write(bytes.Length);
            w.Write(bytes);
            w.Write(new byte[(4 - (bytes.Length % 4)) % 4]);
            w.Write(tile);
            w.Write((int)value.Type);
            w.Write(value.Shape.Length);
            foreach (var d in value.Shape) w.Write(d);
            w.Write(value.Floats is { } f ? MemoryMarshal.AsBytes(f.AsSpan()) : MemoryMarshal.AsBytes(value.Ints!.AsSpan()));
        }
        w.Flush();
        return stream.ToArray();
    }

    private static List<BoundaryTile> Decode(byte[] payload)
    {
        using var r = new BinaryReader(new MemoryStream(payload));
        var tiles = new List<BoundaryTile>();
        for (var count = r.ReadInt32(); count > 0; count--)
        {
            var length = r.ReadInt32();
            var name = Encoding.UTF8.GetString(r.ReadBytes(length));
            r.ReadBytes((4 - (length % 4)) % 4);
            var tile = r.ReadInt32();
            var type = (ElementType)r.ReadInt32();
            var shape = new long[r.ReadInt32()];
            for (var d = 0; d < shape.Length; d++) shape[d] = r.ReadInt64();
            var elements = checked((int)shape.Aggregate(1L, (a, x) => a * x));
            var data = r.ReadBytes(elements * 4);
            tiles.Add(new BoundaryTile(name, tile, type == ElementType.I32
                ? HostTensor.FromInts(MemoryMarshal.Cast<byte, int>(data).ToArray(), shape)
                : HostTensor.FromFloats(type, MemoryMarshal.Cast<byte, float>(data).ToArray(), shape)));
        }
        return tiles;
    }
}

/// <summary>Boundary messages between stages of one job that share a silo: one completion slot per transfer id.</summary>
public sealed class BoundaryMailbox
{
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<BoundaryMessage>> _slots = new();

    public void Put(ulong id, BoundaryMessage message)
    {
        if (!Slot(id).TrySetResult(message)) throw new ExecutionException($"{message.Buffer} was handed over twice");
    }

    public async Task<BoundaryMessage> TakeAsync(ulong id, CancellationToken cancellationToken)
    {
        var message = await Slot(id).Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        _slots.TryRemove(id, out _);
        return message;
    }

    private TaskCompletionSource<BoundaryMessage> Slot(ulong id) =>
        _slots.GetOrAdd(id, _ => new TaskCompletionSource<BoundaryMessage>(TaskCreationOptions.RunContinuationsAsynchronously));
}
