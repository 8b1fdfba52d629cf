using Alpa.Planner.Sharding;

namespace Alpa.Silo.Checkpoints;

/// <summary>The shape of a logical device mesh, without costs: <c>(N0, N1)</c>, rank r = i·N1 + j.</summary>
/// <param name="N0">Devices along mesh axis 0.</param>
/// <param name="N1">Devices along mesh axis 1.</param>
public sealed record MeshShape(int N0, int N1)
{
    /// <summary>One device: every tensor is whole there.</summary>
    public static MeshShape Single { get; } = new(1, 1);

    public int Devices => N0 * N1;

    public override string ToString() => $"({N0}, {N1})";
}

/// <summary>
/// How one tensor is laid out over one mesh: global shape + sharding spec + mesh. This is all a
/// checkpoint needs to know about a plan, so a single device, an SPMD mesh, or one pipeline stage's
/// submesh on a silo worker all describe their tensors the same way.
/// </summary>
/// <param name="Shape">Global (unsharded) shape, outermost first.</param>
/// <param name="Spec">Sharding spec, one entry per dim.</param>
/// <param name="Mesh">The mesh the spec refers to.</param>
public sealed record TensorLayout(long[] Shape, ShardingSpec Spec, MeshShape Mesh)
{
    /// <summary>The whole tensor on one device.</summary>
    public static TensorLayout Whole(long[] shape) => new(shape, ShardingSpec.Replicated(shape.Length), MeshShape.Single);

    /// <summary>Elements of the global tensor.</summary>
    public long Elements => TileGeometry.Count(Shape);

    public bool Equals(TensorLayout? other) =>
        other is not null && Shape.AsSpan().SequenceEqual(other.Shape) && Spec.Equals(other.Spec) && Mesh.Equals(other.Mesh);

    public override int GetHashCode() => HashCode.Combine(Shape.Length == 0 ? 0 : Shape[0], Spec, Mesh);
}

/// <summary>An axis-aligned block of a tensor: per dim, where it starts and how long it is.</summary>
/// <param name="Offset">First index per dim.</param>
/// <param name="Extent">Length per dim.</param>
public sealed record Box(long[] Offset, long[] Extent)
{
    public long Elements => TileGeometry.Count(Extent);

    public bool Equals(Box? other) =>
        other is not null && Offset.AsSpan().SequenceEqual(other.Offset) && Extent.AsSpan().SequenceEqual(other.Extent);

    public override int GetHashCode() => HashCode.Combine(Offset.Length, Elements);

    public override string ToString() => "[" + string.Join(", ", Offset.Select((o, d) => $"{o}:{o + Extent[d]}")) + "]";
}
