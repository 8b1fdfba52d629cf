using Alpa.Kernels;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// Where each device's shard of a tensor lies under a <see cref="ShardingSpec"/>: device rank
/// r = i·n1 + j of mesh (n0, n1) holds, on every dim, block i (S0), j (S1), i·n1 + j (S01) or the
/// whole dim (R).
/// </summary>
public static class ShardLayout
{
    /// <summary>Mesh coordinates (i, j) of a rank.</summary>
    public static (int I, int J) Coordinates(int rank, LogicalMesh mesh) => (rank / mesh.N1, rank % mesh.N1);

    /// <summary>The block of dim sharding <paramref name="d"/> that <paramref name="rank"/> holds.</summary>
    public static int Block(DimSharding d, int rank, LogicalMesh mesh) => ShardingSpec.BlockIndex(d, rank, mesh.N1);

    /// <summary>Per-device shape of a tensor of <paramref name="full"/> shape.</summary>
    public static long[] LocalShape(Shape full, ShardingSpec spec, LogicalMesh mesh)
    {
        var local = full.ToArray();
        for (var d = 0; d < local.Length; d++) local[d] /= spec.Partitions(d, mesh);
        return local;
    }

    /// <summary>The shard of a full host tensor that <paramref name="rank"/> holds.</summary>
    public static HostTensor Shard(HostTensor full, ShardingSpec spec, LogicalMesh mesh, int rank)
    {
        var local = LocalShape(new Shape(full.Shape), spec, mesh);
        var offsets = Offsets(spec, mesh, rank, local);
        return full.Floats is { } f
            ? HostTensor.FromFloats(full.Type, Copy(f, full.Shape, local, offsets, toLocal: true, null), local)
            : HostTensor.FromInts(Copy(full.Ints!, full.Shape, local, offsets, toLocal: true, null), local);
    }

    /// <summary>The full tensor assembled from every rank's shard (replicas: rank order, last wins).</summary>
    public static HostTensor Assemble(IReadOnlyList<HostTensor> shards, Shape full, ShardingSpec spec, LogicalMesh mesh)
    {
        var shape = full.ToArray();
        var isFloat = shards[0].Floats is not null;
        var floats = isFloat ? new float[full.Elements] : null;
        var ints = isFloat ? null : new int[full.Elements];
        for (var r = 0; r < shards.Count; r++)
        {
            var offsets = Offsets(spec, mesh, r, shards[r].Shape);
            if (isFloat) Copy(shards[r].Floats!, shape, shards[r].Shape, offsets, toLocal: false, floats);
            else Copy(shards[r].Ints!, shape, shards[r].Shape, offsets, toLocal: false, ints);
        }
        return isFloat ? HostTensor.FromFloats(shards[0].Type, floats!, shape) : HostTensor.FromInts(ints!, shape);
    }

    /// <summary>The region [offsets, offsets + shape) of a host tensor (e.g. a tile of a shard).</summary>
    public static HostTensor Region(HostTensor source, long[] offsets, long[] shape) =>
        source.Floats is { } f
            ? HostTensor.FromFloats(source.Type, Copy(f, source.Shape, shape, offsets, toLocal: true, null), shape)
            : HostTensor.FromInts(Copy(source.Ints!, source.Shape, shape, offsets, toLocal: true, null), shape);

    /// <summary>Writes <paramref name="region"/> into <paramref name="target"/> at <paramref name="offsets"/>.</summary>
    public static void Place(HostTensor region, HostTensor target, long[] offsets)
    {
        if (target.Floats is { } f) Copy(region.Floats!, target.Shape, region.Shape, offsets, toLocal: false, f);
        else Copy(region.Ints!, target.Shape, region.Shape, offsets, toLocal: false, target.Ints);
    }

    /// <summary>Where the block of <paramref name="rank"/> starts in the full tensor, per dim.</summary>
    public static long[] Offsets(ShardingSpec spec, LogicalMesh mesh, int rank, long[] local)
    {
        var offsets = new long[local.Length];
        for (var d = 0; d < local.Length; d++) offsets[d] = Block(spec[d], rank, mesh) * local[d];
        return offsets;
    }

    /// <summary>Copies rows (last-dim runs) between a full array and a local block at <paramref name="offsets"/>.</summary>
    private static T[] Copy<T>(T[] source, long[] fullShape, long[] local, long[] offsets, bool toLocal, T[]? target)
    {
        long count = 1;
        foreach (var d in local) count *= d;
        var result = target ?? new T[count];
        var rank = local.Length;
        if (rank == 0)
        {
            result[0] = source[0];
            return result;
        }
        var fullStrides = new long[rank];
        long s = 1;
        for (var d = rank - 1; d >= 0; d--) { fullStrides[d] = s; s *= fullShape[d]; }
        var run = (int)local[^1];
        var rows = run == 0 ? 0 : count / run;
        var index = new long[rank];
        for (long r = 0; r < rows; r++)
        {
            long full = offsets[^1];
            for (var d = 0; d < rank - 1; d++) full += (index[d] + offsets[d]) * fullStrides[d];
            if (toLocal) Array.Copy(source, full, result, r * run, run);
            else Array.Copy(source, r * run, result, full, run);
            for (var d = rank - 2; d >= 0; d--)
            {
                if (++index[d] < local[d]) break;
                index[d] = 0;
            }
        }
        return result;
    }
}
