using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// Turns per-rank shards of one spec into shards of another [Alpa §4.1, Table 2]. Per mesh axis:
/// kept when both specs split the same dim with it (as a prefix of that dim's axes); moved to
/// another dim by an all-to-all when the layouts on both dims allow it; otherwise removed by an
/// all-gather; axes the target adds are then sliced locally (free). Minor axes leave a dim first,
/// so every intermediate layout is a valid spec.
/// </summary>
internal static class Resharder
{
    /// <summary>New per-rank tensors in <paramref name="dst"/>; the inputs are left untouched.</summary>
    public static Tensor[] Reshard(MeshCommunicator comm, Tensor[] x, ShardingSpec src, ShardingSpec dst, string tensor, string source)
    {
        // Most inputs already are in the layout their consumer wants: the same views the walk below
        // would end with, without its bookkeeping (it allocated ~1 MB per gpt-tiny step).
        if (src.Equals(dst)) return Views(x);
        var cur = Dims(src);
        var t = x;
        var both = Array.IndexOf(cur, DimSharding.S01);
        var target = dst.DimOfAxis(0);
        if (both >= 0 && target >= 0 && target != both && dst[target] == DimSharding.S01 && cur[target] == DimSharding.R)
        {
            // S01 on one dim to S01 on another: one all-to-all over the whole mesh in rank order.
            t = comm.AllToAll(3, t, target, both, tensor, source);
            (cur[both], cur[target]) = (DimSharding.R, DimSharding.S01);
        }
        foreach (var axis in new[] { 1, 0 })
        {
            var bit = 1 << axis;
            var from = Array.FindIndex(cur, d => (ShardingSpec.Mask(d) & bit) != 0);
            if (from < 0 || Kept(cur[from], dst[from], axis)) continue;
            var to = dst.DimOfAxis(axis);
            Tensor[] next;
            if (to >= 0 && to != from && CanMove(cur, dst, axis, from, to))
            {
                next = comm.AllToAll(bit, t, to, from, tensor, source);
                cur[to] = ShardingSpec.FromMask(ShardingSpec.Mask(cur[to]) | bit);
            }
            else
            {
                next = comm.AllGather(bit, t, from, tensor, source);
            }
            cur[from] = ShardingSpec.FromMask(ShardingSpec.Mask(cur[from]) & ~bit);
            t = Replace(t, next, x);
        }
        for (var d = 0; d < cur.Length; d++)
        {
            foreach (var axis in new[] { 0, 1 })
            {
                var bit = 1 << axis;
                if ((ShardingSpec.Mask(dst[d]) & bit) == 0 || (ShardingSpec.Mask(cur[d]) & bit) != 0) continue;
                if (axis == 0 && cur[d] != DimSharding.R)
                    throw new SpmdException($"resharding '{tensor}' {src}→{dst}: axis 0 cannot become major under {cur[d]}");
                t = Replace(t, Slice(comm, t, d, axis), x);
                cur[d] = ShardingSpec.FromMask(ShardingSpec.Mask(cur[d]) | bit);
            }
        }
        if (!ShardingSpec.Create(cur).Equals(dst))
            throw new SpmdException($"resharding '{tensor}' {src}→{dst} ended at {ShardingSpec.Create(cur)}");
        return ReferenceEquals(t, x) ? Views(x) : t;
    }

    private static Tensor[] Views(Tensor[] x)
    {
        var views = new Tensor[x.Length];
        for (var r = 0; r < x.Length; r++) views[r] = x[r].View(x[r].Shape);
        return views;
    }

    /// <summary>Whether <paramref name="axis"/> on a dim may stay (Resharding.Kept in the planner).</summary>
    private static bool Kept(DimSharding src, DimSharding dst, int axis) => (src, dst, axis) switch
    {
        (DimSharding.S0, DimSharding.S0 or DimSharding.S01, 0) => true,
        (DimSharding.S1, DimSharding.S1, 1) => true,
        (DimSharding.S01, DimSharding.S01, _) => true,
        (DimSharding.S01, DimSharding.S0, 0) => true,
        _ => false,
    };

    /// <summary>
    /// An all-to-all keeps the layout valid when the axis is alone on its dim or the minor one of an
    /// S01 split, and lands where the target wants it with the right major axis.
    /// </summary>
    private static bool CanMove(DimSharding[] cur, ShardingSpec dst, int axis, int from, int to)
    {
        var bit = 1 << axis;
        if (ShardingSpec.Mask(cur[from]) != bit && !(cur[from] == DimSharding.S01 && axis == 1)) return false;
        return cur[to] switch
        {
            DimSharding.R => axis == 0 || dst[to] == DimSharding.S1,
            DimSharding.S0 => axis == 1 && dst[to] == DimSharding.S01,
            _ => false,
        };
    }

    /// <summary>Each rank keeps its block (by its coordinate on <paramref name="axis"/>) of dim <paramref name="dim"/>.</summary>
    private static Tensor[] Slice(MeshCommunicator comm, Tensor[] x, int dim, int axis)
    {
        var mesh = comm.Mesh;
        var n = mesh.Size(axis);
        var y = new Tensor[x.Length];
        for (var r = 0; r < x.Length; r++)
        {
            var shape = x[r].Shape.ToArray();
            shape[dim] /= n;
            y[r] = comm.Devices[r].Allocate(x[r].Type, shape);
            var (i, j) = ShardLayout.Coordinates(comm.Rank(r), mesh);
            Blocks.Extract(x[r], dim, axis == 0 ? i : j, n, y[r]);
        }
        return y;
    }

    private static Tensor[] Replace(Tensor[] old, Tensor[] next, Tensor[] original)
    {
        if (!ReferenceEquals(old, original)) foreach (var t in old) t.Dispose();
        return next;
    }

    private static DimSharding[] Dims(ShardingSpec s) => [.. Enumerable.Range(0, s.Rank).Select(d => s[d])];
}
