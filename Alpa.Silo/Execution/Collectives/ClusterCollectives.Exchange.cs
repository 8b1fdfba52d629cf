using System.Runtime.InteropServices;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>All-gather, reduce-scatter, all-to-all and send/recv: each silo's bundle goes straight to the silo that needs it.</summary>
public sealed partial class ClusterCollectives
{
    /// <summary>Every local member's output is the members' inputs concatenated along <paramref name="axis"/> in group order.</summary>
    public async Task AllGatherAsync(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis,
                                     CancellationToken cancellationToken = default)
    {
        using var call = Begin("all-gather", ranks, cancellationToken);
        var (layout, local, outs) = (call.Layout, call.Layout.Local(inputs, call.What), call.Layout.Local(outputs, call.What));
        var block = (int)local[0].Bytes;
        using var mine = new Bundles(1, _ => local.Length * block);
        for (var j = 0; j < local.Length; j++) Blocks.Bytes(local[j]).CopyTo(mine[0].Span.Slice(j * block, block));
        using var incoming = new Bundles(layout.Silos.Length, s => layout.Members[s].Length * block);
        await ExchangeAsync(call, _ => mine[0], incoming).ConfigureAwait(false);
        for (var s = 0; s < layout.Silos.Length; s++)
            for (var i = 0; i < layout.Members[s].Length; i++)
                foreach (var o in outs) Blocks.Insert(incoming[s].Span.Slice(i * block, block), o, axis, layout.Members[s][i], layout.Count);
        var n = layout.Count;
        Count(layout, outs[0].Bytes * (n - 1) / n, outs[0].Bytes * (n - 1) / n);
    }

    /// <summary>Local member k's output is block k (along <paramref name="axis"/>) of the reduction of all inputs (group order within a silo, then silo order).</summary>
    public async Task ReduceScatterAsync(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis,
                                         CollectiveReduce op = CollectiveReduce.Sum, CancellationToken cancellationToken = default)
    {
        using var call = Begin("reduce-scatter", ranks, cancellationToken);
        var (layout, local, outs) = (call.Layout, call.Layout.Local(inputs, call.What), call.Layout.Local(outputs, call.What));
        var (whole, n) = ((int)local[0].Bytes, layout.Count);
        var block = whole / n;
        using var partial = new Bundles(1, _ => whole);
        LocalReduce(local, partial[0].Span, op, call.What);
        // To silo t: block m of this silo's partial reduction, for each member m of t.
        using var outgoing = new Bundles(layout.Silos.Length, t => layout.Members[t].Length * block);
        for (var t = 0; t < layout.Silos.Length; t++)
            for (var i = 0; i < layout.Members[t].Length; i++)
                Blocks.Extract(partial[0].Span, local[0], axis, layout.Members[t][i], n, outgoing[t].Span.Slice(i * block, block));
        using var incoming = new Bundles(layout.Silos.Length, _ => local.Length * block);
        await ExchangeAsync(call, t => outgoing[t], incoming).ConfigureAwait(false);
        for (var j = 0; j < outs.Length; j++)
        {
            var result = outs[j].Floats();
            MemoryMarshal.Cast<byte, float>(incoming[0].Span.Slice(j * block, block)).CopyTo(result);
            for (var s = 1; s < layout.Silos.Length; s++)
                Accumulate(result, MemoryMarshal.Cast<byte, float>(incoming[s].Span.Slice(j * block, block)), op);
        }
        Count(layout, local[0].Bytes * (n - 1) / n, local[0].Bytes * (n - 1) / n);
    }

    /// <summary>Member m's output is, concatenated along <paramref name="concatAxis"/> in group order, block m (along <paramref name="splitAxis"/>) of every input.</summary>
    public async Task AllToAllAsync(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int splitAxis, int concatAxis,
                                    CancellationToken cancellationToken = default)
    {
        using var call = Begin("all-to-all", ranks, cancellationToken);
        var (layout, local, outs) = (call.Layout, call.Layout.Local(inputs, call.What), call.Layout.Local(outputs, call.What));
        var n = layout.Count;
        var block = (int)local[0].Bytes / n;
        var here = local.Length;
        // Bundle from silo s to silo t: for each source member of s, for each member of t, one block.
        using var outgoing = new Bundles(layout.Silos.Length, t => here * layout.Members[t].Length * block);
        for (var t = 0; t < layout.Silos.Length; t++)
            for (var j = 0; j < here; j++)
                for (var i = 0; i < layout.Members[t].Length; i++)
                    Blocks.Extract(Blocks.Bytes(local[j]), local[j], splitAxis, layout.Members[t][i], n,
                                   outgoing[t].Span.Slice(((j * layout.Members[t].Length) + i) * block, block));
        using var incoming = new Bundles(layout.Silos.Length, s => layout.Members[s].Length * here * block);
        await ExchangeAsync(call, t => outgoing[t], incoming).ConfigureAwait(false);
        for (var s = 0; s < layout.Silos.Length; s++)
            for (var i = 0; i < layout.Members[s].Length; i++)
                for (var j = 0; j < here; j++)
                    Blocks.Insert(incoming[s].Span.Slice(((i * here) + j) * block, block), outs[j], concatAxis, layout.Members[s][i], n);
        Count(layout, local[0].Bytes * (n - 1) / n, local[0].Bytes * (n - 1) / n);
    }

    /// <summary>
    /// Copies <paramref name="sent"/> of rank <paramref name="source"/> into <paramref name="received"/> of rank
    /// <paramref name="destination"/>. Across silos each side gives only its own tensor (the other may be null).
    /// </summary>
    public async Task SendRecvAsync(int source, Tensor? sent, int destination, Tensor? received, CancellationToken cancellationToken = default)
    {
        using var call = Begin("send/recv", source == destination ? [source] : [source, destination], cancellationToken);
        var other = 1 - call.Layout.Self;
        var bytes = (sent ?? received)?.Bytes ?? throw new KernelException("send/recv: give the tensor of the local side");
        if (call.Layout.Silos.Length == 1)
        {
            if (sent is null || received is null || sent.Bytes != received.Bytes || sent.Type.IsFloat() != received.Type.IsFloat())
                throw new KernelException($"send/recv of {sent} into {received}: both tensors are local and must have equal sizes and storage");
            Blocks.Bytes(sent).CopyTo(Blocks.Bytes(received));
        }
        else if (_placement.IsLocal(source))
        {
            await call.SendAsync(0, other, TensorMemory.Of(sent ?? throw new KernelException($"send/recv: rank {source} is local; give its tensor"))).ConfigureAwait(false);
        }
        else
        {
            await call.ReceiveAsync(0, other, TensorMemory.Of(received ?? throw new KernelException($"send/recv: rank {destination} is local; give its tensor"))).ConfigureAwait(false);
        }
        if (source != destination) CountPair(source, destination, bytes);
    }

    /// <summary>
    /// Sends <paramref name="outgoing"/>(t) to every other silo t and receives <paramref name="incoming"/>[s] from
    /// every other silo s (all posted at once); this silo's own bundle is copied into <paramref name="incoming"/>[self].
    /// </summary>
    private static async Task ExchangeAsync(Call call, Func<int, Memory<byte>> outgoing, Bundles incoming)
    {
        var transfers = new List<Task>();
        var self = call.Layout.Self;
        for (var s = 0; s < call.Layout.Silos.Length; s++)
            if (s != self) transfers.Add(call.ReceiveAsync(0, s, incoming[s]));
        for (var t = 0; t < call.Layout.Silos.Length; t++)
            if (t != self) transfers.Add(call.SendAsync(0, t, outgoing(t)));
        outgoing(self).Span.CopyTo(incoming[self].Span);
        await Task.WhenAll(transfers).ConfigureAwait(false);
    }

    private void CountPair(int source, int destination, long bytes)
    {
        lock (_sequences)
        {
            if (_placement.IsLocal(source))
            {
                _sent[source] += bytes;
                _calls[source]++;
            }
            if (_placement.IsLocal(destination))
            {
                _received[destination] += bytes;
                _calls[destination]++;
            }
        }
    }

    /// <summary>Pooled byte buffers, one per silo of a call, of exact lengths.</summary>
    private sealed class Bundles : IDisposable
    {
        private readonly byte[][] _arrays;
        private readonly Memory<byte>[] _memory;

        public Bundles(int count, Func<int, long> bytes)
        {
            _arrays = new byte[count][];
            _memory = new Memory<byte>[count];
            for (var s = 0; s < count; s++)
            {
                var length = checked((int)bytes(s));
                _arrays[s] = Rent(length);
                _memory[s] = _arrays[s].AsMemory(0, length);
            }
        }

        public Memory<byte> this[int s] => _memory[s];

        public void Dispose()
        {
            foreach (var a in _arrays) Return(a);
        }
    }
}
