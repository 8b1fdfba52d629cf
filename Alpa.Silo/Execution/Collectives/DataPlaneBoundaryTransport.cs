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
/// Stage s runs on silo <c>siloOfStage[s]</c>; a buffer goes from the silo of its <c>From</c> stage to
/// the silo of its <c>To</c> stage. The k-th send of a buffer id matches its k-th receive (each step
/// sends each buffer once), so ids differ from step to step. A message travels as two frames: its
/// length, then names, shapes and values. A waiting receive watches the sending silo and fails with
/// <see cref="SiloFailedException"/> naming it when it dies.
/// </summary>
public sealed class DataPlaneBoundaryTransport(IPeerTransport peers, IReadOnlyList<string> siloOfStage, int tag) : IBoundaryTransport
{
    private readonly ConcurrentDictionary<BufferId, long> _sent = new();
    private readonly ConcurrentDictionary<BufferId, long> _received = new();

    public async ValueTask SendAsync(BoundaryMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var count = _sent.AddOrUpdate(message.Buffer, 0, (_, k) => k + 1);
        var payload = Encode(message);
        var length = new byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, payload.Length);
        var to = siloOfStage[message.Buffer.To];
        await peers.SendAsync(to, Id(message.Buffer, count, 0), length, cancellationToken).ConfigureAwait(false);
        await peers.SendAsync(to, Id(message.Buffer, count, 1), payload, cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask<BoundaryMessage> ReceiveAsync(BufferId buffer, CancellationToken cancellationToken)
    {
        var count = _received.AddOrUpdate(buffer, 0, (_, k) => k + 1);
        var from = siloOfStage[buffer.From];
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var watch = from == peers.Self ? Task.CompletedTask : peers.WatchAsync([from], cts.Token);
        try
        {
            var length = new byte[8];
            await Race(peers.ReceiveAsync(from, Id(buffer, count, 0), length, cts.Token), watch).ConfigureAwait(false);
            var payload = new byte[checked((int)BinaryPrimitives.ReadInt64LittleEndian(length))];
            await Race(peers.ReceiveAsync(from, Id(buffer, count, 1), payload, cts.Token), watch).ConfigureAwait(false);
            return Decode(buffer, payload);
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

    /// <summary>The transfer; the watch's failure instead when the sender died first.</summary>
    private static async Task Race(Task transfer, Task watch)
    {
        if (await Task.WhenAny(transfer, watch).ConfigureAwait(false) == watch && watch.IsFaulted) await watch.ConfigureAwait(false);
        await transfer.ConfigureAwait(false);
    }

    private ulong Id(BufferId b, long count, int part) =>
        TransferIds.Of(tag, ((ulong)(uint)b.Kind << 32) | (uint)b.Microbatch, count, part, b.From, b.To, 0);

    /// <summary>count · (name length, name bytes padded to 4, tile index, type, rank, dims, values), little-endian.</summary>
    private static byte[] Encode(BoundaryMessage message)
    {
        using var stream = new MemoryStream();
        using var w = new BinaryWriter(stream);
        w.Write(message.Tiles.Count);
        foreach (var (name, tile, value) in message.Tiles)
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

    private static BoundaryMessage Decode(BufferId buffer, byte[] payload)
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
        return new BoundaryMessage(buffer, tiles);
    }
}
