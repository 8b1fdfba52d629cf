using Alpa.Planner.Cluster;

namespace Alpa.Planner.Sharding;

/// <summary>Collective operations the strategies and resharding use.</summary>
public enum CollectiveKind
{
    AllReduce,
    AllGather,
    ReduceScatter,
    AllToAll,
}

/// <summary>
/// One collective a strategy or a resharding issues.
/// </summary>
/// <param name="Kind">The operation.</param>
/// <param name="Axes">Mesh axes it runs over: bit 0 axis 0, bit 1 axis 1 (3: both).</param>
/// <param name="Bytes">Size of the FULL logical tensor being communicated within one group (see <see cref="Collectives"/>).</param>
/// <param name="Seconds">Its predicted time.</param>
public sealed record Collective(CollectiveKind Kind, int Axes, double Bytes, double Seconds)
{
    public override string ToString() => $"{Kind}@{AxesName(Axes)}";

    /// <summary><c>0</c>, <c>1</c> or <c>01</c>.</summary>
    public static string AxesName(int axes) => axes switch { 1 => "0", 2 => "1", 3 => "01", _ => "-" };
}

/// <summary>
/// Alpha-beta costs of collectives on a logical mesh [Alpa §4.1]: <c>α + β · bytes · factor</c>.
/// <para>
/// <b>bytes is the size of the FULL logical tensor being communicated within one group</b>: for an
/// all-reduce the tensor every member holds; for an all-gather the gathered result; for a
/// reduce-scatter the unscattered input; for an all-to-all the sum of all members' buffers. Ring
/// factors: all-reduce 2(n−1)/n, all-gather and reduce-scatter (n−1)/n, all-to-all (n−1)/n² times
/// a penalty of n·<see cref="Calibration.AllToAllPenaltyPerDevice"/> (Alpa's code: n/2).
/// </para>
/// Collectives over both axes run hierarchically, one axis after the other, in the cheaper order.
/// An axis of size 1 costs nothing.
/// </summary>
public static class Collectives
{
    public static double AllReduce(LogicalMesh mesh, int axes, double bytes) => axes switch
    {
        1 or 2 => OnAxis(mesh, axes == 1 ? 0 : 1, bytes, n => 2.0 * (n - 1) / n),
        // reduce-scatter on one axis, all-reduce of the 1/n piece on the other, all-gather back.
        3 => Math.Min(HierAllReduce(mesh, 0, 1, bytes), HierAllReduce(mesh, 1, 0, bytes)),
        _ => 0,
    };

    public static double AllGather(LogicalMesh mesh, int axes, double bytes) => axes switch
    {
        1 or 2 => OnAxis(mesh, axes == 1 ? 0 : 1, bytes, n => (n - 1.0) / n),
        // gather the inner axis first (its groups hold bytes / n_outer), then the outer.
        3 => Math.Min(
            AllGather(mesh, 2, bytes / mesh.N0) + AllGather(mesh, 1, bytes),
            AllGather(mesh, 1, bytes / mesh.N1) + AllGather(mesh, 2, bytes)),
        _ => 0,
    };

    public static double ReduceScatter(LogicalMesh mesh, int axes, double bytes) => axes switch
    {
        1 or 2 => OnAxis(mesh, axes == 1 ? 0 : 1, bytes, n => (n - 1.0) / n),
        3 => Math.Min(
            ReduceScatter(mesh, 1, bytes) + ReduceScatter(mesh, 2, bytes / mesh.N0),
            ReduceScatter(mesh, 2, bytes) + ReduceScatter(mesh, 1, bytes / mesh.N1)),
        _ => 0,
    };

    public static double AllToAll(LogicalMesh mesh, int axes, double bytes) => axes switch
    {
        1 or 2 => OnAxis(mesh, axes == 1 ? 0 : 1, bytes,
            n => (n - 1.0) / ((double)n * n) * n * mesh.Cluster.Calibration.AllToAllPenaltyPerDevice),
        3 => AllToAll(mesh, 1, bytes / mesh.N1) + AllToAll(mesh, 2, bytes / mesh.N0),
        _ => 0,
    };

    public static double Cost(LogicalMesh mesh, CollectiveKind kind, int axes, double bytes) => kind switch
    {
        CollectiveKind.AllReduce => AllReduce(mesh, axes, bytes),
        CollectiveKind.AllGather => AllGather(mesh, axes, bytes),
        CollectiveKind.ReduceScatter => ReduceScatter(mesh, axes, bytes),
        CollectiveKind.AllToAll => AllToAll(mesh, axes, bytes),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>The collective as a record with its time.</summary>
    public static Collective Make(LogicalMesh mesh, CollectiveKind kind, int axes, double bytes) =>
        new(kind, axes, bytes, Cost(mesh, kind, axes, bytes));

    private static double HierAllReduce(LogicalMesh mesh, int first, int second, double bytes)
    {
        var m1 = 1 << first;
        var m2 = 1 << second;
        return ReduceScatter(mesh, m1, bytes) + AllReduce(mesh, m2, bytes / mesh.Size(first)) + AllGather(mesh, m1, bytes);
    }

    private static double OnAxis(LogicalMesh mesh, int axis, double bytes, Func<int, double> factor)
    {
        var a = mesh.Axis(axis);
        if (a.Size <= 1 || bytes <= 0) return 0;
        return a.Alpha + a.Beta * bytes * factor(a.Size);
    }
}
