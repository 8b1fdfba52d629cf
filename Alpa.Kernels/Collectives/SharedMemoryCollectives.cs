using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Alpa.Kernels.Cpu;

namespace Alpa.Kernels.Collectives;

/// <summary>
/// Collectives among the CPU devices of one process through shared memory: a group call reads
/// every member's buffer directly. The caller drives all members of a group in one call (the SPMD
/// executor runs ranks in lockstep), so no rendezvous is needed. Reductions accumulate in group
/// order, giving bit-identical results on every member and across runs. Traffic is counted as a
/// ring algorithm would move it: all-reduce 2(n−1)/n of the buffer per member, all-gather (n−1)/n of
/// the output, reduce-scatter (n−1)/n of the input, all-to-all (n−1)/n of the input.
/// </summary>
public sealed class SharedMemoryCollectives : ICollectives
{
    private readonly long[] _sent;
    private readonly long[] _received;
    private readonly int[] _calls;

    public SharedMemoryCollectives(int worldSize)
    {
        if (worldSize < 1) throw new KernelException($"a communicator needs at least one rank, got {worldSize}");
        WorldSize = worldSize;
        _sent = new long[worldSize];
        _received = new long[worldSize];
        _calls = new int[worldSize];
    }

    public int WorldSize { get; }

    public void AllReduce(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> buffers, CollectiveReduce op = CollectiveReduce.Sum)
    {
        CheckGroup(ranks, buffers, "all-reduce");
        CheckSameShapes(buffers, "all-reduce");
        var n = ranks.Count;
        var acc = Reduce(buffers, op);
        foreach (var b in buffers) acc.CopyTo(b.Floats());
        Count(ranks, buffers[0].Bytes * 2 * (n - 1) / n);
    }

    public void AllGather(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis)
    {
        CheckGroup(ranks, inputs, "all-gather");
        CheckGroup(ranks, outputs, "all-gather");
        CheckSameShapes(inputs, "all-gather");
        var n = ranks.Count;
        foreach (var o in outputs)
            for (var k = 0; k < n; k++) Blocks.Insert(inputs[k], o, axis, k, n);
        Count(ranks, outputs[0].Bytes * (n - 1) / n);
    }

    public void ReduceScatter(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis,
                              CollectiveReduce op = CollectiveReduce.Sum)
    {
        CheckGroup(ranks, inputs, "reduce-scatter");
        CheckGroup(ranks, outputs, "reduce-scatter");
        CheckSameShapes(inputs, "reduce-scatter");
        var n = ranks.Count;
        var acc = Reduce(inputs, op);
        for (var k = 0; k < n; k++) Blocks.Extract(MemoryMarshal.AsBytes(acc.AsSpan()), inputs[0], axis, k, n, outputs[k]);
        Count(ranks, inputs[0].Bytes * (n - 1) / n);
    }

    public void AllToAll(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int splitAxis, int concatAxis)
    {
        CheckGroup(ranks, inputs, "all-to-all");
        CheckGroup(ranks, outputs, "all-to-all");
        CheckSameShapes(inputs, "all-to-all");
        var n = ranks.Count;
        var blockShape = inputs[0].Shape.ToArray();
        blockShape[splitAxis] /= n;
        for (var m = 0; m < n; m++)
        {
            for (var k = 0; k < n; k++)
            {
                using var block = outputs[m].Device.Allocate(inputs[k].Type, blockShape);
                Blocks.Extract(inputs[k], splitAxis, m, n, block);
                Blocks.Insert(block, outputs[m], concatAxis, k, n);
            }
        }
        Count(ranks, inputs[0].Bytes * (n - 1) / n);
    }

    public void SendRecv(int source, Tensor sent, int destination, Tensor received)
    {
        ArgumentNullException.ThrowIfNull(sent);
        ArgumentNullException.ThrowIfNull(received);
        CheckRank(source);
        CheckRank(destination);
        if (sent.Bytes != received.Bytes || sent.Type.IsFloat() != received.Type.IsFloat())
            throw new KernelException($"send/recv of {sent} into {received}: sizes or storage differ");
        Blocks.Bytes(sent).CopyTo(Blocks.Bytes(received));
        if (source == destination) return;
        _sent[source] += sent.Bytes;
        _received[destination] += sent.Bytes;
        _calls[source]++;
        _calls[destination]++;
    }

    public CollectiveTraffic Traffic(int rank)
    {
        CheckRank(rank);
        return new CollectiveTraffic { BytesSent = _sent[rank], BytesReceived = _received[rank], Calls = _calls[rank] };
    }

    public void ResetTraffic()
    {
        Array.Clear(_sent);
        Array.Clear(_received);
        Array.Clear(_calls);
    }

    /// <summary>The element-wise reduction of the members' buffers, member 0 first.</summary>
    private static float[] Reduce(IReadOnlyList<Tensor> buffers, CollectiveReduce op)
    {
        if (!buffers[0].Type.IsFloat()) throw new KernelException($"cannot reduce {buffers[0]}: only float tensors reduce");
        var acc = buffers[0].Floats().ToArray();
        for (var k = 1; k < buffers.Count; k++)
        {
            if (op == CollectiveReduce.Sum) TensorPrimitives.Add(acc, buffers[k].Floats(), acc);
            else TensorPrimitives.Max(acc, buffers[k].Floats(), acc);
        }
        return acc;
    }

    private void Count(IReadOnlyList<int> ranks, long bytesPerMember)
    {
        if (ranks.Count < 2) return;
        foreach (var r in ranks)
        {
            _sent[r] += bytesPerMember;
            _received[r] += bytesPerMember;
            _calls[r]++;
        }
    }

    private void CheckGroup(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> tensors, string what)
    {
        ArgumentNullException.ThrowIfNull(ranks);
        ArgumentNullException.ThrowIfNull(tensors);
        if (ranks.Count == 0 || ranks.Count != tensors.Count)
            throw new KernelException($"{what}: {ranks.Count} ranks but {tensors.Count} tensors; give one tensor per member");
        if (ranks.Distinct().Count() != ranks.Count)
            throw new KernelException($"{what}: group [{string.Join(", ", ranks)}] names a rank twice");
        foreach (var r in ranks) CheckRank(r);
    }

    private static void CheckSameShapes(IReadOnlyList<Tensor> tensors, string what)
    {
        for (var k = 1; k < tensors.Count; k++)
            if (!tensors[k].Shape.SequenceEqual(tensors[0].Shape) || tensors[k].Type.IsFloat() != tensors[0].Type.IsFloat())
                throw new KernelException($"{what}: member {k} has {tensors[k]}, member 0 has {tensors[0]}; members must match");
    }

    private void CheckRank(int rank)
    {
        if (rank < 0 || rank >= WorldSize)
            throw new KernelException($"rank {rank} is outside the communicator of {WorldSize} ranks");
    }
}
