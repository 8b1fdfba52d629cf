using Alpa.Planner.Cluster;

namespace Alpa.Planner.Sharding;

/// <summary>
/// Converting a tensor from one sharding spec to another [Alpa §4.1, Table 2]. Per mesh axis: kept
/// when both specs split the same dim with it (as a prefix of that dim's axes); added by slicing
/// (free); moved between dims by an all-to-all; removed by an all-gather. All-to-alls run first
/// (the tensor is smallest then), then all-gathers, then slices.
/// </summary>
public static class Resharding
{
    /// <summary>The collectives that turn <paramref name="src"/> into <paramref name="dst"/> for a tensor of <paramref name="fullBytes"/>.</summary>
    public static List<Collective> Plan(LogicalMesh mesh, double fullBytes, ShardingSpec src, ShardingSpec dst)
    {
        ArgumentNullException.ThrowIfNull(mesh);
        ArgumentNullException.ThrowIfNull(src);
        ArgumentNullException.ThrowIfNull(dst);
        if (src.Rank != dst.Rank)
            throw new ShardingSpecException($"cannot reshard {src} to {dst}: ranks differ");
        var steps = new List<Collective>();
        if (src.Equals(dst)) return steps;
        var cur = src.ToArray();
        var moves = new List<(int Axis, int From, int To)>();
        var gathers = new List<(int Axis, int From)>();
        for (var axis = 0; axis < 2; axis++)
        {
            var from = src.DimOfAxis(axis);
            if (from < 0 || Kept(src[from], dst[from], axis)) continue;
            var to = dst.DimOfAxis(axis);
            if (to >= 0 && to != from) moves.Add((axis, from, to));
            else gathers.Add((axis, from));
        }
        foreach (var (axis, from, to) in moves)
        {
            var bit = 1 << axis;
            var bytes = fullBytes / ShardingSpec.AxesProduct(UsedAxes(cur) & ~bit, mesh);
            steps.Add(Collectives.Make(mesh, CollectiveKind.AllToAll, bit, bytes));
            cur[from] = ShardingSpec.FromMask(ShardingSpec.Mask(cur[from]) & ~bit);
            // Another axis still sitting on the target dim stays the major one.
            cur[to] = ShardingSpec.FromMask(ShardingSpec.Mask(cur[to]) | bit);
        }
        foreach (var (axis, from) in gathers)
        {
            var bit = 1 << axis;
            var bytes = fullBytes / ShardingSpec.AxesProduct(UsedAxes(cur) & ~bit, mesh);
            steps.Add(Collectives.Make(mesh, CollectiveKind.AllGather, bit, bytes));
            cur[from] = ShardingSpec.FromMask(ShardingSpec.Mask(cur[from]) & ~bit);
        }
        return steps;
    }

    /// <summary>Seconds to reshard a tensor of <paramref name="fullBytes"/> from <paramref name="src"/> to <paramref name="dst"/>.</summary>
    public static double Cost(LogicalMesh mesh, double fullBytes, ShardingSpec src, ShardingSpec dst)
    {
        if (src.Equals(dst)) return 0;
        var total = 0.0;
        foreach (var c in Plan(mesh, fullBytes, src, dst)) total += c.Seconds;
        return total;
    }

    /// <summary>
    /// Whether <paramref name="axis"/>, used by <paramref name="src"/> on a dim, can stay: the dim's
    /// axes in src up to and including this one must be a prefix of the dim's axes in dst.
    /// </summary>
    private static bool Kept(DimSharding src, DimSharding dst, int axis) => (src, dst, axis) switch
    {
        (DimSharding.S0, DimSharding.S0 or DimSharding.S01, 0) => true,
        (DimSharding.S1, DimSharding.S1, 1) => true,
        (DimSharding.S01, DimSharding.S01, _) => true,
        (DimSharding.S01, DimSharding.S0, 0) => true,
        _ => false,
    };

    private static int UsedAxes(DimSharding[] dims)
    {
        var m = 0;
        foreach (var d in dims) m |= ShardingSpec.Mask(d);
        return m;
    }
}
