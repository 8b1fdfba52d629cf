using Alpa.Planner.Sharding;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// Pure geometry of sharded tensors: which block of the global tensor each rank of a mesh holds,
/// which ranks own a distinct block (replicas are written once), and how a destination block is
/// assembled from any set of source tiles that cover it. No I/O: resharding a checkpoint onto
/// another layout is this plus reading the tiles.
/// </summary>
public static class TileGeometry
{
    /// <summary>Pieces dim sharding <paramref name="d"/> cuts its dim into on <paramref name="mesh"/>.</summary>
    public static int Partitions(DimSharding d, MeshShape mesh) => d switch
    {
        DimSharding.S0 => mesh.N0,
        DimSharding.S1 => mesh.N1,
        DimSharding.S01 => mesh.N0 * mesh.N1,
        _ => 1,
    };

    /// <summary>Block index rank <paramref name="rank"/> holds on a dim (as ShardLayout.Block, on a bare mesh shape).</summary>
    public static int Block(DimSharding d, int rank, MeshShape mesh) => ShardingSpec.BlockIndex(d, rank, mesh.N1);

    /// <summary>The block of the global tensor that <paramref name="rank"/> holds.</summary>
    public static Box TileOf(TensorLayout layout, int rank)
    {
        Validate(layout);
        var n = layout.Shape.Length;
        var offset = new long[n];
        var extent = new long[n];
        for (var d = 0; d < n; d++)
        {
            extent[d] = layout.Shape[d] / Partitions(layout.Spec[d], layout.Mesh);
            offset[d] = Block(layout.Spec[d], rank, layout.Mesh) * extent[d];
        }
        return new Box(offset, extent);
    }

    /// <summary>Each distinct block once, with the lowest rank holding it (that rank writes it).</summary>
    public static IReadOnlyList<(int Rank, Box Tile)> UniqueTiles(TensorLayout layout)
    {
        var seen = new HashSet<Box>();
        var tiles = new List<(int, Box)>();
        for (var r = 0; r < layout.Mesh.Devices; r++)
        {
            var tile = TileOf(layout, r);
            if (seen.Add(tile)) tiles.Add((r, tile));
        }
        return tiles;
    }

    /// <summary>The overlap of two blocks, or null when they do not meet.</summary>
    public static Box? Intersect(Box a, Box b)
    {
        var n = a.Offset.Length;
        var offset = new long[n];
        var extent = new long[n];
        for (var d = 0; d < n; d++)
        {
            offset[d] = Math.Max(a.Offset[d], b.Offset[d]);
            var end = Math.Min(a.Offset[d] + a.Extent[d], b.Offset[d] + b.Extent[d]);
            if (end <= offset[d]) return null;
            extent[d] = end - offset[d];
        }
        return new Box(offset, extent);
    }

    /// <summary>
    /// Fills the block <paramref name="destination"/> (row-major in <paramref name="target"/>) from the
    /// source tiles that overlap it. The tiles must not overlap each other (a checkpoint stores each
    /// distinct block once) and must cover every element; otherwise a <see cref="CheckpointException"/>.
    /// </summary>
    public static void Assemble<T>(Box destination, T[] target, IEnumerable<(Box Tile, T[] Data)> sources)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var covered = 0L;
        foreach (var (tile, data) in sources)
        {
            if (Intersect(tile, destination) is not { } region) continue;
            CopyRegion(tile, data, destination, target, region);
            covered += region.Elements;
        }
        if (covered < destination.Elements)
            throw new CheckpointException($"the tiles cover {covered} of the {destination.Elements} elements of block {destination}");
    }

    /// <summary>Copies <paramref name="region"/> (inside both blocks) from one block's data to another's, by last-dim runs.</summary>
    public static void CopyRegion<T>(Box from, T[] source, Box to, T[] target, Box region)
    {
        var n = region.Offset.Length;
        if (n == 0)
        {
            target[0] = source[0];
            return;
        }
        var fromStrides = Strides(from.Extent);
        var toStrides = Strides(to.Extent);
        var run = (int)region.Extent[^1];
        var rows = region.Elements / Math.Max(1, run);
        var index = new long[n];
        for (long r = 0; r < rows; r++)
        {
            long src = 0, dst = 0;
            for (var d = 0; d < n; d++)
            {
                var at = region.Offset[d] + index[d];
                src += (at - from.Offset[d]) * fromStrides[d];
                dst += (at - to.Offset[d]) * toStrides[d];
            }
            Array.Copy(source, src, target, dst, run);
            for (var d = n - 2; d >= 0; d--)
            {
                if (++index[d] < region.Extent[d]) break;
                index[d] = 0;
            }
        }
    }

    public static long Count(long[] shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }

    private static long[] Strides(long[] extent)
    {
        var strides = new long[extent.Length];
        long s = 1;
        for (var d = extent.Length - 1; d >= 0; d--)
        {
            strides[d] = s;
            s *= extent[d];
        }
        return strides;
    }

    private static void Validate(TensorLayout layout)
    {
        if (layout.Spec.Rank != layout.Shape.Length)
            throw new CheckpointException($"sharding spec {layout.Spec} has {layout.Spec.Rank} dims, the tensor [{string.Join(", ", layout.Shape)}] has {layout.Shape.Length}");
        for (var d = 0; d < layout.Shape.Length; d++)
        {
            var parts = Partitions(layout.Spec[d], layout.Mesh);
            if (layout.Shape[d] % parts != 0)
                throw new CheckpointException($"dim {d} of [{string.Join(", ", layout.Shape)}] ({layout.Shape[d]}) does not split into {parts} blocks on mesh {layout.Mesh}");
        }
    }
}
