namespace Alpa.Planner.Cluster;

/// <summary>
/// Cost parameters of one logical mesh axis: a collective over the axis costs
/// <c>Alpha + bytes · factor / BytesPerSecond</c>.
/// </summary>
/// <param name="Size">Devices in each group of the axis.</param>
/// <param name="Alpha">Latency of one collective, seconds.</param>
/// <param name="BytesPerSecond">Ring bandwidth each group gets while all groups of the axis run at once (slowest group).</param>
/// <param name="CrossesHosts">Whether the axis's groups span hosts.</param>
public sealed record MeshAxis(int Size, double Alpha, double BytesPerSecond, bool CrossesHosts)
{
    /// <summary>Seconds per byte.</summary>
    public double Beta => 1.0 / BytesPerSecond;
}

/// <summary>
/// A 2-D logical view <c>(N0, N1)</c> of a physical submesh of <c>Hosts × DevicesPerHost</c> devices
/// [Alpa §4]. Logical device (i, j) is physical device <c>i·N1 + j</c> in host-major order, so axis 1
/// groups are runs of N1 consecutive devices and axis 0 groups are strided by N1.
/// </summary>
public sealed record LogicalMesh
{
    private LogicalMesh(ClusterSpec cluster, int n0, int n1, MeshAxis axis0, MeshAxis axis1)
    {
        Cluster = cluster;
        N0 = n0;
        N1 = n1;
        Axis0 = axis0;
        Axis1 = axis1;
    }

    /// <summary>The physical submesh (its Hosts × DevicesPerHost) and its hardware.</summary>
    public ClusterSpec Cluster { get; }
    public int N0 { get; }
    public int N1 { get; }
    public MeshAxis Axis0 { get; }
    public MeshAxis Axis1 { get; }

    public int Devices => N0 * N1;
    public int Size(int axis) => axis == 0 ? N0 : N1;
    public MeshAxis Axis(int axis) => axis == 0 ? Axis0 : Axis1;
    public DeviceSpec Device => Cluster.Device;

    /// <summary>Shape as printed in plans: <c>[N0, N1]</c>.</summary>
    public int[] Shape => [N0, N1];

    public override string ToString() => $"({N0}, {N1}) on {Cluster.Name}:{Cluster.Hosts}x{Cluster.DevicesPerHost}";

    /// <summary>The logical mesh (n0, n1) over all devices of <paramref name="submesh"/>.</summary>
    public static LogicalMesh Create(ClusterSpec submesh, int n0, int n1)
    {
        ArgumentNullException.ThrowIfNull(submesh);
        submesh.Validate();
        if (n0 < 1 || n1 < 1 || (long)n0 * n1 != submesh.Devices)
            throw new ClusterSpecException(
                $"logical mesh ({n0}, {n1}) does not cover the {submesh.Hosts}x{submesh.DevicesPerHost} submesh: n0·n1 must be {submesh.Devices}") { Field = "logical_mesh" };
        return new LogicalMesh(submesh, n0, n1, AxisCost(submesh, n0, n1, 0), AxisCost(submesh, n0, n1, 1));
    }

    /// <summary>Every reshape (n0, n1) of the submesh's devices, n0 ascending.</summary>
    public static IReadOnlyList<LogicalMesh> AllShapes(ClusterSpec submesh)
    {
        ArgumentNullException.ThrowIfNull(submesh);
        var total = submesh.Devices;
        if (total < 1) throw new ClusterSpecException($"the submesh {submesh.Hosts}x{submesh.DevicesPerHost} has no devices") { Field = "cluster" };
        var meshes = new List<LogicalMesh>();
        for (var n0 = 1; n0 <= total; n0++)
            if (total % n0 == 0) meshes.Add(Create(submesh, n0, total / n0));
        return meshes;
    }

    /// <summary>Physical device ids of every group along <paramref name="axis"/>.</summary>
    public static List<int[]> Groups(int n0, int n1, int axis)
    {
        var groups = new List<int[]>();
        if (axis == 1)
            for (var i = 0; i < n0; i++) groups.Add([.. Enumerable.Range(0, n1).Select(j => i * n1 + j)]);
        else
            for (var j = 0; j < n1; j++) groups.Add([.. Enumerable.Range(0, n0).Select(i => i * n1 + j)]);
        return groups;
    }

    private static MeshAxis AxisCost(ClusterSpec c, int n0, int n1, int axis)
    {
        var size = axis == 0 ? n0 : n1;
        if (size == 1) return new MeshAxis(1, 0, double.PositiveInfinity, false);
        var groups = Groups(n0, n1, axis);
        var d = c.DevicesPerHost;
        // Shared NIC: on each host, count the groups of this axis that leave the host.
        var crossingPerHost = new int[c.Hosts];
        foreach (var g in groups)
        {
            var hosts = g.Select(x => x / d).Distinct().ToArray();
            if (hosts.Length > 1) foreach (var h in hosts) crossingPerHost[h]++;
        }
        var bandwidth = double.PositiveInfinity;
        var crosses = false;
        foreach (var g in groups)
        {
            var byHost = g.GroupBy(x => x / d).ToArray();
            var groupBw = double.PositiveInfinity;
            foreach (var part in byHost)
                groupBw = Math.Min(groupBw, IntraHostBandwidth(c, [.. part.Select(x => x % d)]));
            if (byHost.Length > 1)
            {
                crosses = true;
                var sharing = byHost.Max(h => crossingPerHost[h.Key]);
                groupBw = Math.Min(groupBw, c.InterHostBytesPerSecond * c.Calibration.InterHostLinkEfficiency / sharing);
            }
            bandwidth = Math.Min(bandwidth, groupBw);
        }
        var alpha = crosses ? c.Calibration.InterHostAlphaSeconds : c.Calibration.IntraHostAlphaSeconds;
        return new MeshAxis(size, alpha, bandwidth, crosses);
    }

    /// <summary>Ring bandwidth among devices of one host (slowest hop of a mixed ring inside the host).</summary>
    private static double IntraHostBandwidth(ClusterSpec c, int[] localIds)
    {
        if (localIds.Length < 2) return double.PositiveInfinity;
        var eff = c.Calibration.IntraHostLinkEfficiency;
        return c.Topology switch
        {
            IntraHostTopology.HybridCubeMesh =>
                NvLinkHybridCubeMesh.GroupBandwidth(localIds, c.IntraHostBytesPerSecond * eff, c.FallbackBytesPerSecond),
            _ => c.IntraHostBytesPerSecond * eff,
        };
    }
}
