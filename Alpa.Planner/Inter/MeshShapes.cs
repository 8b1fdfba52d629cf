namespace Alpa.Planner.Inter;

/// <summary>A physical submesh: <see cref="Hosts"/> hosts × <see cref="Devices"/> devices of each.</summary>
public readonly record struct SubmeshShape(int Hosts, int Devices)
{
    /// <summary>Number of devices n·m.</summary>
    public int Count => Hosts * Devices;
    public override string ToString() => $"({Hosts},{Devices})";
}

/// <summary>A 2-D logical device mesh (n0, n1) with n0·n1 = the submesh's devices.</summary>
public readonly record struct LogicalMeshShape(int N0, int N1)
{
    public int Count => N0 * N1;
    public override string ToString() => $"({N0},{N1})";
}

/// <summary>Which submesh shapes the stage DP may use (Alpa's <c>submesh_physical_shape_space</c>).</summary>
public enum SubmeshSpace
{
    /// <summary>(1,1), (1,2), (1,4), …, (1,M), (2,M), (3,M), …, (N,M): the paper's space.</summary>
    All,
    /// <summary>As <see cref="All"/> but multi-host submeshes only with a power-of-two number of hosts.</summary>
    PowerOfTwo,
    /// <summary>As <see cref="PowerOfTwo"/> with at most 4 hosts per submesh (Alpa's pruning option).</summary>
    SmallPowerOfTwo,
}

/// <summary>Which logical meshes are tried on a submesh (Alpa's <c>submesh_logical_shape_space</c>).</summary>
public enum LogicalMeshSpace
{
    /// <summary>Every (n0, n1) with n0·n1 = devices of the submesh.</summary>
    All,
    /// <summary>Only the physical shape (hosts, devices).</summary>
    SameAsPhysical,
}

/// <summary>Enumeration of submesh and logical mesh shapes [Alpa §5.2].</summary>
public static class MeshShapes
{
    /// <summary>The submesh shapes of an N × M cluster in the DP's order (M must be a power of two).</summary>
    public static IReadOnlyList<SubmeshShape> Submeshes(int hosts, int devicesPerHost, SubmeshSpace space = SubmeshSpace.All)
    {
        var list = new List<SubmeshShape>();
        for (var m = 1; m <= devicesPerHost; m *= 2) list.Add(new SubmeshShape(1, m));
        for (var n = 2; n <= hosts; n++)
        {
            var powerOfTwo = (n & (n - 1)) == 0;
            if (space != SubmeshSpace.All && !powerOfTwo) continue;
            if (space == SubmeshSpace.SmallPowerOfTwo && n > 4) continue;
            list.Add(new SubmeshShape(n, devicesPerHost));
        }
        return list;
    }

    /// <summary>The logical meshes of a submesh, n0 ascending.</summary>
    public static IReadOnlyList<LogicalMeshShape> LogicalMeshes(SubmeshShape submesh, LogicalMeshSpace space = LogicalMeshSpace.All)
    {
        if (space == LogicalMeshSpace.SameAsPhysical) return [new LogicalMeshShape(submesh.Hosts, submesh.Devices)];
        var d = submesh.Count;
        var list = new List<LogicalMeshShape>();
        for (var n0 = 1; n0 <= d; n0++)
            if (d % n0 == 0) list.Add(new LogicalMeshShape(n0, d / n0));
        return list;
    }
}
