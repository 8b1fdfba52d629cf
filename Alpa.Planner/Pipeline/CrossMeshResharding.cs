using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Pipeline;

/// <summary>One mesh of a cross-mesh transfer: how the tensor is laid out on it and which devices it has.</summary>
/// <param name="Spec">Sharding spec of the tensor on this mesh.</param>
/// <param name="Mesh">Logical mesh shape (n0, n1).</param>
/// <param name="Devices">Global device ids, logical device k = (i, j) row-major: k = i·n1 + j.</param>
public sealed record ReshardingSide(ShardingSpec Spec, LogicalMeshShape Mesh, IReadOnlyList<int> Devices)
{
    /// <summary>The side of a planner <see cref="LogicalMesh"/> with its devices.</summary>
    public static ReshardingSide Of(ShardingSpec spec, LogicalMesh mesh, IReadOnlyList<int> devices)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        return new ReshardingSide(spec, new LogicalMeshShape(mesh.N0, mesh.N1), devices);
    }
}

/// <summary>What to move: a boundary tensor from one mesh layout to another.</summary>
public sealed record ReshardingRequest
{
    /// <summary>Global (unsharded) shape of the tensor.</summary>
    public required Shape Shape { get; init; }
    /// <summary>Bytes per element (4 for f32, 2 for f16/bf16).</summary>
    public required int ElementBytes { get; init; }
    /// <summary>The sending mesh and the tensor's layout on it.</summary>
    public required ReshardingSide Source { get; init; }
    /// <summary>The receiving mesh and the layout the tensor must have there.</summary>
    public required ReshardingSide Destination { get; init; }
    /// <summary>Host of every global device id: <c>HostOfDevice[id]</c>.</summary>
    public required IReadOnlyList<int> HostOfDevice { get; init; }
    /// <summary>
    /// Alpa's local all-gather [Alpa §6]: a tile needed by k devices of one destination host crosses
    /// to that host once, in k slices, and is then all-gathered among them. False: every receiving
    /// device gets its own copy from the source.
    /// </summary>
    public bool LocalAllGather { get; init; } = true;
}

/// <summary>
/// A rectangular region of the global tensor sent by one source device to one or more destination
/// devices. A tile whose <see cref="Source"/> is its only receiver is a local copy (no bytes move).
/// </summary>
/// <param name="Offset">First element of the region per dim.</param>
/// <param name="Shape">Extent of the region per dim.</param>
/// <param name="Source">Global id of the sending device (it owns the region under the source spec).</param>
/// <param name="Receivers">Global ids of the devices that receive the region.</param>
/// <param name="Bytes">Bytes of the region (each receiver gets this many).</param>
public sealed record ReshardingTile(IReadOnlyList<long> Offset, IReadOnlyList<long> Shape, int Source, IReadOnlyList<int> Receivers, long Bytes);

/// <summary>
/// An all-gather among destination devices of one host after the tiles arrived: each device holds
/// at most one slice of the region (from a tile), and all of it afterwards.
/// </summary>
/// <param name="Offset">First element of the gathered region per dim.</param>
/// <param name="Shape">Extent of the gathered region per dim.</param>
/// <param name="Devices">Global ids of the devices taking part, in slice order.</param>
/// <param name="Bytes">Bytes of the whole region.</param>
public sealed record ReshardingAllGather(IReadOnlyList<long> Offset, IReadOnlyList<long> Shape, IReadOnlyList<int> Devices, long Bytes);

/// <summary>The tiles and all-gathers of one cross-mesh resharding, with their totals.</summary>
public sealed record ReshardingPlan
{
    /// <summary>Transfers in a fixed order (region, then destination host, then slice).</summary>
    public required IReadOnlyList<ReshardingTile> Tiles { get; init; }
    /// <summary>Intra-host all-gathers that complete replicated destinations (empty without local all-gather).</summary>
    public required IReadOnlyList<ReshardingAllGather> AllGathers { get; init; }
    /// <summary>Bytes moved by tiles between distinct devices (a multicast counts once per receiver).</summary>
    public required long BytesSent { get; init; }
    /// <summary>Part of <see cref="BytesSent"/> whose receiver is on another host than its sender.</summary>
    public required long CrossHostBytes { get; init; }
    /// <summary>Bytes received in the all-gathers, over all devices: Σ (k − 1)·region bytes.</summary>
    public required long AllGatherBytes { get; init; }
}

/// <summary>
/// Plans cross-mesh resharding [Alpa §6]: cuts the tensor into the tiles that lie inside one block of
/// the source layout and one block of the destination layout, picks for each the owning source
/// device (spreading load over replicas, preferring no host crossing) and, with local all-gather,
/// sends each tile once per destination host in slices that are then all-gathered there. Pure and
/// deterministic; <see cref="Seconds"/> prices a plan with the cluster's link parameters.
/// </summary>
public static partial class CrossMeshResharding
{
    /// <summary>The tiles (and all-gathers) that give every destination device its part of the tensor.</summary>
    /// <exception cref="ShardingSpecException">A spec does not fit the shape or its mesh.</exception>
    /// <exception cref="ArgumentException">Device lists or the host map do not match the meshes.</exception>
    public static ReshardingPlan Plan(ReshardingRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var builder = new TileBuilder(request);
        foreach (var region in Regions(request))
            builder.Add(region);
        return builder.Result();
    }

    /// <summary>Host of every global device id of <paramref name="cluster"/> (id / devices per host).</summary>
    public static int[] HostMap(InterOpCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return [.. Enumerable.Range(0, cluster.DeviceCount).Select(d => d / cluster.DevicesPerHost)];
    }

    private static void Validate(ReshardingRequest r)
    {
        if (r.ElementBytes < 1) throw new ArgumentException($"element bytes must be ≥ 1, got {r.ElementBytes}", nameof(r));
        CheckSide(r, r.Source, "source");
        CheckSide(r, r.Destination, "destination");
    }

    private static void CheckSide(ReshardingRequest r, ReshardingSide side, string name)
    {
        var (n0, n1) = (side.Mesh.N0, side.Mesh.N1);
        if (n0 < 1 || n1 < 1 || side.Devices.Count != n0 * n1)
            throw new ArgumentException($"the {name} mesh ({n0}, {n1}) needs {n0 * n1} device ids, got {side.Devices.Count}", nameof(r));
        if (side.Devices.Distinct().Count() != side.Devices.Count)
            throw new ArgumentException($"the {name} mesh lists a device twice", nameof(r));
        foreach (var d in side.Devices)
            if (d < 0 || d >= r.HostOfDevice.Count)
                throw new ArgumentException($"{name} device {d} has no host in the host map ({r.HostOfDevice.Count} devices)", nameof(r));
        if (side.Spec.Rank != r.Shape.Rank)
            throw new ShardingSpecException($"{name} spec {side.Spec} has {side.Spec.Rank} dims, the tensor {r.Shape} has {r.Shape.Rank}");
        for (var d = 0; d < r.Shape.Rank; d++)
            if (r.Shape[d] % Parts(side, d) != 0)
                throw new ShardingSpecException($"{name} spec {side.Spec} splits dim {d} of {r.Shape} into {Parts(side, d)} parts, which does not divide it on mesh ({n0}, {n1})");
    }

    /// <summary>Blocks dim <paramref name="dim"/> is cut into on a side.</summary>
    public static int Parts(ReshardingSide side, int dim) => side.Spec[dim] switch
    {
        DimSharding.S0 => side.Mesh.N0,
        DimSharding.S1 => side.Mesh.N1,
        DimSharding.S01 => side.Mesh.N0 * side.Mesh.N1,
        _ => 1,
    };

    /// <summary>Block of dim <paramref name="dim"/> held by logical device <paramref name="k"/> (k = i·n1 + j).</summary>
    internal static int BlockOf(ReshardingSide side, int dim, int k) => ShardingSpec.BlockIndex(side.Spec[dim], k, side.Mesh.N1);

    /// <summary>
    /// The common refinement of both block grids: per dim the union of both sides' block boundaries,
    /// regions in row-major order. Each region lies inside one source block and one destination block.
    /// </summary>
    private static IEnumerable<(long[] Offset, long[] Shape)> Regions(ReshardingRequest r)
    {
        var rank = r.Shape.Rank;
        if (r.Shape.Elements == 0) yield break;
        var cuts = new long[rank][];
        for (var d = 0; d < rank; d++)
        {
            var extent = r.Shape[d];
            var ps = Parts(r.Source, d);
            var pd = Parts(r.Destination, d);
            cuts[d] = [.. Enumerable.Range(0, ps + 1).Select(k => extent / ps * k)
                .Concat(Enumerable.Range(0, pd + 1).Select(k => extent / pd * k)).Distinct().Order()];
        }
        var index = new int[rank];
        while (true)
        {
            var offset = new long[rank];
            var shape = new long[rank];
            for (var d = 0; d < rank; d++)
            {
                offset[d] = cuts[d][index[d]];
                shape[d] = cuts[d][index[d] + 1] - offset[d];
            }
            yield return (offset, shape);
            var dim = rank - 1;
            while (dim >= 0 && ++index[dim] == cuts[dim].Length - 1) index[dim--] = 0;
            if (dim < 0) yield break;
        }
    }
}
