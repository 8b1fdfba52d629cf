using System.Runtime.InteropServices;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>All-reduce: local reduction, then a ring over the group's silos.</summary>
public sealed partial class ClusterCollectives
{
    /// <summary>In place: every local member's buffer becomes the reduction of all members' buffers.</summary>
    public async Task AllReduceAsync(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> buffers, CollectiveReduce op = CollectiveReduce.Sum,
                                     CancellationToken cancellationToken = default)
    {
        using var call = Begin("all-reduce", ranks, cancellationToken);
        var local = call.Layout.Local(buffers, call.What);
        var bytes = (int)local[0].Bytes;
        var partial = Rent(bytes);
        try
        {
            LocalReduce(local, partial.AsSpan(0, bytes), op, call.What);
            if (call.Layout.Silos.Length > 1) await RingAsync(call, partial.AsMemory(0, bytes), op).ConfigureAwait(false);
            foreach (var t in local) partial.AsSpan(0, bytes).CopyTo(Blocks.Bytes(t));
        }
        finally
        {
            Return(partial);
        }
        var n = call.Layout.Count;
        Count(call.Layout, local[0].Bytes * 2 * (n - 1) / n, local[0].Bytes * 2 * (n - 1) / n);
    }

    /// <summary>
    /// Ring all-reduce of <paramref name="data"/> over the S silos of the call: S chunks; in reduce-scatter
    /// step t silo i sends chunk (i − t) to silo i + 1 and adds chunk (i − t − 1) from silo i − 1; after S − 1
    /// steps silo i holds the full reduction of chunk i + 1, which the all-gather steps pass around.
    /// </summary>
    private static async Task RingAsync(Call call, Memory<byte> data, CollectiveReduce op)
    {
        var silos = call.Layout.Silos.Length;
        var me = call.Layout.Self;
        var elements = data.Length / 4;
        (int Offset, int Length) Chunk(int c)
        {
            c = ((c % silos) + silos) % silos;
            long a = (long)c * elements / silos, b = (long)(c + 1) * elements / silos;
            return ((int)a * 4, (int)(b - a) * 4);
        }
        var scratch = Rent(Chunk(0).Length + 4);
        try
        {
            for (var t = 0; t < silos - 1; t++)
            {
                var (sendAt, sendLength) = Chunk(me - t);
                var (recvAt, recvLength) = Chunk(me - t - 1);
                await StepAsync(call, t, data.Slice(sendAt, sendLength), scratch.AsMemory(0, recvLength)).ConfigureAwait(false);
                Accumulate(MemoryMarshal.Cast<byte, float>(data.Span.Slice(recvAt, recvLength)),
                           MemoryMarshal.Cast<byte, float>(scratch.AsSpan(0, recvLength)), op);
            }
            for (var t = 0; t < silos - 1; t++)
            {
                var (sendAt, sendLength) = Chunk(me + 1 - t);
                var (recvAt, recvLength) = Chunk(me - t);
                await StepAsync(call, silos - 1 + t, data.Slice(sendAt, sendLength), data.Slice(recvAt, recvLength)).ConfigureAwait(false);
            }
        }
        finally
        {
            Return(scratch);
        }
    }

    /// <summary>One ring step: receive from the previous silo (posted first) while sending to the next.</summary>
    private static async Task StepAsync(Call call, int step, ReadOnlyMemory<byte> send, Memory<byte> receive)
    {
        var received = call.ReceiveAsync(step, call.Layout.Previous, receive);
        var sent = call.SendAsync(step, call.Layout.Next, send);
        await Task.WhenAll(received, sent).ConfigureAwait(false);
    }
}
