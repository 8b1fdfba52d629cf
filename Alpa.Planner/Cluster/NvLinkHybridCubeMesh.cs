namespace Alpa.Planner.Cluster;

/// <summary>
/// The NVLink 2.0 hybrid cube-mesh of a DGX-1 V100 / aws-p3.16xlarge (as <c>nvidia-smi topo -m</c>
/// prints it): two fully connected quads {0,1,2,3} and {4,5,6,7}, some pairs with two lanes, and
/// one or two lanes from GPU i to GPU i+4. Each GPU has 6 lanes of 25 GB/s per direction.
/// </summary>
public static class NvLinkHybridCubeMesh
{
    public const int Gpus = 8;
    public const int LanesPerGpu = 6;

    // Lanes[i, j]: NVLink lanes between GPU i and GPU j.
    private static readonly int[,] Lanes =
    {
        //0  1  2  3  4  5  6  7
        { 0, 1, 1, 2, 2, 0, 0, 0 },
        { 1, 0, 2, 1, 0, 2, 0, 0 },
        { 1, 2, 0, 2, 0, 0, 1, 0 },
        { 2, 1, 2, 0, 0, 0, 0, 1 },
        { 2, 0, 0, 0, 0, 1, 1, 2 },
        { 0, 2, 0, 0, 1, 0, 2, 1 },
        { 0, 0, 1, 0, 1, 2, 0, 2 },
        { 0, 0, 0, 1, 2, 1, 2, 0 },
    };

    public static int LanesBetween(int a, int b) => Lanes[a, b];

    /// <summary>
    /// Ring bandwidth (bytes/s per direction) of a collective among <paramref name="members"/> (GPU
    /// indices inside one host): rings may only use lanes between members, so the bound is the
    /// smallest number of lanes any member has into the group times the lane rate. Without a ring
    /// over NVLink (no Hamiltonian cycle among the members) traffic falls back to PCIe.
    /// </summary>
    public static double GroupBandwidth(IReadOnlyList<int> members, double perGpuBytesPerSecond, double fallbackBytesPerSecond)
    {
        if (members.Count < 2) return double.PositiveInfinity;
        if (!HasNvLinkRing(members)) return fallbackBytesPerSecond;
        var laneRate = perGpuBytesPerSecond / LanesPerGpu;
        var minLanes = int.MaxValue;
        foreach (var m in members)
        {
            var lanes = 0;
            foreach (var o in members) lanes += Lanes[m, o];
            minLanes = Math.Min(minLanes, lanes);
        }
        return minLanes * laneRate;
    }

    /// <summary>True when the members can be ordered into a ring whose neighbours share a lane.</summary>
    public static bool HasNvLinkRing(IReadOnlyList<int> members)
    {
        if (members.Count == 2) return Lanes[members[0], members[1]] > 0;
        var used = new bool[members.Count];
        used[0] = true;
        return Extend(members, used, 0, 1);
    }

    private static bool Extend(IReadOnlyList<int> members, bool[] used, int last, int placed)
    {
        if (placed == members.Count) return Lanes[members[last], members[0]] > 0;
        for (var i = 1; i < members.Count; i++)
        {
            if (used[i] || Lanes[members[last], members[i]] == 0) continue;
            used[i] = true;
            if (Extend(members, used, i, placed + 1)) return true;
            used[i] = false;
        }
        return false;
    }
}
