using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// Rectangular regions of a global tensor inside one device's shard: where a device's block lies under a
/// <see cref="ReshardingSide"/> (device k = i·n1 + j holds block i on S0 dims, j on S1, k on S01, all of R),
/// and row-by-row copies of a region between a shard and a packed byte buffer.
/// </summary>
internal static class RegionCopy
{
    /// <summary>Offset (per dim, in global elements) of the block <paramref name="device"/> holds on <paramref name="side"/>.</summary>
    public static long[] BlockOffset(ReshardingSide side, IReadOnlyList<long> shape, int device)
    {
        var k = IndexOf(side, device);
        var offset = new long[shape.Count];
        for (var d = 0; d < shape.Count; d++)
        {
            var parts = CrossMeshResharding.Parts(side, d);
            offset[d] = shape[d] / parts * ShardingSpec.BlockIndex(side.Spec[d], k, side.Mesh.N1);
        }
        return offset;
    }

    /// <summary>Copies packed bytes of region (<paramref name="offset"/>, <paramref name="shape"/>) into <paramref name="shard"/>.</summary>
    public static void Insert(ReadOnlySpan<byte> packed, Tensor shard, long[] shardOffset, IReadOnlyList<long> offset, IReadOnlyList<long> shape)
    {
        var bytes = Blocks.Bytes(shard);
        var position = 0;
        foreach (var (at, run) in Runs(shard, shardOffset, offset, shape))
        {
            packed.Slice(position, run).CopyTo(bytes.Slice(at, run));
            position += run;
        }
        if (position != packed.Length) throw new KernelException($"{packed.Length} bytes do not fill a region of {position} bytes");
    }

    /// <summary>Copies the region from one shard into another (both laid out by their own block offsets).</summary>
    public static void Copy(Tensor from, long[] fromOffset, Tensor to, long[] toOffset, IReadOnlyList<long> offset, IReadOnlyList<long> shape)
    {
        var packed = new byte[Bytes(shape, from)];
        ExtractTo(from, fromOffset, offset, shape, packed);
        Insert(packed, to, toOffset, offset, shape);
    }

    /// <summary>Packs the region of <paramref name="shard"/> into <paramref name="packed"/>.</summary>
    public static void ExtractTo(Tensor shard, long[] shardOffset, IReadOnlyList<long> offset, IReadOnlyList<long> shape, Span<byte> packed)
    {
        var bytes = Blocks.Bytes(shard);
        var position = 0;
        foreach (var (at, run) in Runs(shard, shardOffset, offset, shape))
        {
            bytes.Slice(at, run).CopyTo(packed.Slice(position, run));
            position += run;
        }
        if (position != packed.Length) throw new KernelException($"a region of {position} bytes does not fill {packed.Length} bytes");
    }

    /// <summary>Bytes of a region in <paramref name="like"/>'s storage.</summary>
    public static int Bytes(IReadOnlyList<long> shape, Tensor like) =>
        checked((int)(shape.Aggregate(1L, (a, d) => a * d) * like.Type.StorageSize()));

    /// <summary>(byte offset in the shard, byte length) of each last-dim run of the region, in row-major order.</summary>
    private static IEnumerable<(int At, int Run)> Runs(Tensor shard, long[] shardOffset, IReadOnlyList<long> offset, IReadOnlyList<long> shape)
    {
        var rank = shape.Count;
        var size = shard.Type.StorageSize();
        var local = shard.Shape.ToArray();
        for (var d = 0; d < rank; d++)
            if (offset[d] < shardOffset[d] || offset[d] + shape[d] > shardOffset[d] + local[d])
                throw new KernelException($"region at [{string.Join(", ", offset)}] of shape [{string.Join(", ", shape)}] is not inside the shard {shard} at [{string.Join(", ", shardOffset)}]");
        if (shape.Any(d => d == 0)) yield break;
        var run = (int)((rank == 0 ? 1 : shape[rank - 1]) * size);
        var index = new long[Math.Max(rank - 1, 0)];
        while (true)
        {
            long at = 0;
            for (var d = 0; d < rank; d++)
                at = (at * local[d]) + offset[d] - shardOffset[d] + (d < rank - 1 ? index[d] : 0);
            yield return ((int)(at * size), run);
            var dim = rank - 2;
            while (dim >= 0 && ++index[dim] == shape[dim]) index[dim--] = 0;
            if (dim < 0) yield break;
        }
    }

    private static int IndexOf(ReshardingSide side, int device)
    {
        for (var k = 0; k < side.Devices.Count; k++)
            if (side.Devices[k] == device) return k;
        throw new KernelException($"device {device} is not on the mesh");
    }
}
