using Alpa.Kernels;
using Alpa.Planner.Sharding;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;
using Alpa.Tests.Spmd;

namespace Alpa.Tests.Checkpoints;

/// <summary>
/// Resharding geometry against the runtime's own sharding (ShardLayout, what SPMD devices hold):
/// any destination shard assembled from the tiles of any source layout equals slicing the full tensor.
/// </summary>
public sealed class TileGeometryTests
{
    private static readonly (int N0, int N1)[] Meshes = [(1, 1), (1, 2), (2, 1), (1, 4), (2, 2), (4, 1), (2, 3), (3, 2)];

    [Fact]
    public void EveryDestinationShardEqualsTheSliceOfTheFullTensor()
    {
        var rng = new DeterministicRandom(11);
        for (var trial = 0; trial < 300; trial++)
        {
            var shape = RandomShape(ref rng);
            var full = Full(shape, ref rng);
            var src = RandomLayout(shape, ref rng);
            var dst = RandomLayout(shape, ref rng);
            var tiles = TileGeometry.UniqueTiles(src).Select(u => (u.Tile, Shard(full, src, u.Rank).Floats!)).ToList();
            for (var r = 0; r < dst.Mesh.Devices; r++)
            {
                var box = TileGeometry.TileOf(dst, r);
                var got = new float[box.Elements];
                TileGeometry.Assemble(box, got, tiles);
                Assert.Equal(Shard(full, dst, r).Floats!, got);
            }
        }
    }

    [Fact]
    public void UniqueTilesCoverTheTensorExactlyOnce()
    {
        var rng = new DeterministicRandom(12);
        for (var trial = 0; trial < 200; trial++)
        {
            var shape = RandomShape(ref rng);
            var layout = RandomLayout(shape, ref rng);
            var tiles = TileGeometry.UniqueTiles(layout).Select(u => u.Tile).ToList();
            Assert.Equal(layout.Elements, tiles.Sum(t => t.Elements));
            for (var a = 0; a < tiles.Count; a++)
                for (var b = a + 1; b < tiles.Count; b++)
                    Assert.Null(TileGeometry.Intersect(tiles[a], tiles[b]));
            var replicas = layout.Mesh.Devices / tiles.Count;
            Assert.Equal(layout.Mesh.Devices, replicas * tiles.Count);
        }
    }

    [Fact]
    public void MissingTilesAndIndivisibleDimsAreClearErrors()
    {
        var layout = new TensorLayout([4, 6], ShardingSpec.Parse(["S0", "R"]), new MeshShape(2, 1));
        var half = TileGeometry.TileOf(layout, 0);
        var e = Assert.Throws<CheckpointException>(() => TileGeometry.Assemble(new Box([0, 0], [4, 6]), new float[24], [(half, new float[12])]));
        Assert.Contains("cover 12 of the 24", e.Message, StringComparison.Ordinal);
        var odd = new TensorLayout([5, 6], ShardingSpec.Parse(["S0", "R"]), new MeshShape(2, 1));
        Assert.Contains("does not split into 2", Assert.Throws<CheckpointException>(() => TileGeometry.TileOf(odd, 0)).Message, StringComparison.Ordinal);
    }

    private static HostTensor Shard(HostTensor full, TensorLayout layout, int rank) =>
        ShardLayout.Shard(full, layout.Spec, SpmdFixture.Mesh(layout.Mesh.N0, layout.Mesh.N1), rank);

    private static long[] RandomShape(ref DeterministicRandom rng)
    {
        var rank = 1 + rng.NextInt(3);
        var shape = new long[rank];
        for (var d = 0; d < rank; d++) shape[d] = 12 * (1 + rng.NextInt(2));
        return shape;
    }

    private static HostTensor Full(long[] shape, ref DeterministicRandom rng)
    {
        var values = new float[TileGeometry.Count(shape)];
        for (var i = 0; i < values.Length; i++) values[i] = (float)rng.NextNormal();
        return HostTensor.FromFloats(values, shape);
    }

    /// <summary>A random valid spec (each mesh axis on at most one dim) on a random mesh.</summary>
    private static TensorLayout RandomLayout(long[] shape, ref DeterministicRandom rng)
    {
        var (n0, n1) = Meshes[rng.NextInt(Meshes.Length)];
        var dims = new DimSharding[shape.Length];
        var used = 0;
        for (var d = 0; d < dims.Length; d++)
        {
            var pick = (DimSharding)rng.NextInt(4);
            if ((ShardingSpec.Mask(pick) & used) != 0) pick = DimSharding.R;
            used |= ShardingSpec.Mask(pick);
            dims[d] = pick;
        }
        return new TensorLayout(shape, ShardingSpec.Create(dims), new MeshShape(n0, n1));
    }
}
