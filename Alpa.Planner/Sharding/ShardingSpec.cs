using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Sharding;

/// <summary>How one tensor dimension is laid out over the 2-D logical mesh [Alpa §4.1].</summary>
public enum DimSharding : byte
{
    /// <summary>Replicated: every device holds the whole dimension.</summary>
    R,
    /// <summary>Split over mesh axis 0.</summary>
    S0,
    /// <summary>Split over mesh axis 1.</summary>
    S1,
    /// <summary>Split over both axes, axis 0 major: device (i, j) holds block i·n1 + j.</summary>
    S01,
}

/// <summary>A sharding spec was malformed or contradicts itself, its tensor or the mesh.</summary>
public sealed class ShardingSpecException : AlpaException
{
    public ShardingSpecException(string message) : base(message) { }
}

/// <summary>
/// A sharding spec: one <see cref="DimSharding"/> per tensor dimension, each mesh axis used by at
/// most one dimension. Immutable, compared by value.
/// </summary>
public sealed class ShardingSpec : IEquatable<ShardingSpec>
{
    private readonly DimSharding[] _dims;
    private readonly int _hash;

    private ShardingSpec(DimSharding[] dims)
    {
        _dims = dims;
        var h = new HashCode();
        foreach (var d in dims) h.Add(d);
        _hash = h.ToHashCode();
    }

    /// <summary>A spec from its dims; throws <see cref="ShardingSpecException"/> when an axis is used twice.</summary>
    public static ShardingSpec Create(params DimSharding[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var used = 0;
        foreach (var d in dims)
        {
            var m = Mask(d);
            if ((used & m) != 0)
                throw new ShardingSpecException($"sharding spec [{string.Join(", ", dims)}] uses a mesh axis on two dimensions");
            used |= m;
        }
        return new ShardingSpec((DimSharding[])dims.Clone());
    }

    public static ShardingSpec Replicated(int rank) => new(new DimSharding[rank]);

    /// <summary>Parses per-dim names as plans print them (<c>["R", "S1"]</c>).</summary>
    public static ShardingSpec Parse(IReadOnlyList<string> dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        var parsed = new DimSharding[dims.Count];
        for (var i = 0; i < dims.Count; i++)
        {
            parsed[i] = dims[i] switch
            {
                "R" => DimSharding.R,
                "S0" => DimSharding.S0,
                "S1" => DimSharding.S1,
                "S01" => DimSharding.S01,
                _ => throw new ShardingSpecException($"'{dims[i]}' (dim {i}) is not one of R, S0, S1, S01"),
            };
        }
        return Create(parsed);
    }

    public int Rank => _dims.Length;
    public DimSharding this[int dim] => _dims[dim];

    /// <summary>
    /// The block of a dim with sharding <paramref name="d"/> that logical device
    /// <paramref name="rank"/> = i·n1 + j holds: i on S0, j on S1, the rank itself on S01, 0 when replicated.
    /// </summary>
    public static int BlockIndex(DimSharding d, int rank, int n1) => d switch
    {
        DimSharding.S0 => rank / n1,
        DimSharding.S1 => rank % n1,
        DimSharding.S01 => rank,
        _ => 0,
    };

    /// <summary>Bit mask of mesh axes a dim sharding uses (bit 0: axis 0, bit 1: axis 1).</summary>
    public static int Mask(DimSharding d) => d switch
    {
        DimSharding.S0 => 1,
        DimSharding.S1 => 2,
        DimSharding.S01 => 3,
        _ => 0,
    };

    /// <summary>The dim sharding that uses the axes in <paramref name="mask"/> (axis 0 major).</summary>
    public static DimSharding FromMask(int mask) => mask switch
    {
        0 => DimSharding.R,
        1 => DimSharding.S0,
        2 => DimSharding.S1,
        3 => DimSharding.S01,
        _ => throw new ArgumentOutOfRangeException(nameof(mask)),
    };

    /// <summary>Mesh axes used by any dim.</summary>
    public int UsedAxes
    {
        get
        {
            var m = 0;
            foreach (var d in _dims) m |= Mask(d);
            return m;
        }
    }

    /// <summary>The dim split over <paramref name="axis"/>, or −1.</summary>
    public int DimOfAxis(int axis)
    {
        for (var i = 0; i < _dims.Length; i++)
            if ((Mask(_dims[i]) & (1 << axis)) != 0) return i;
        return -1;
    }

    /// <summary>Number of pieces dim <paramref name="dim"/> is cut into on <paramref name="mesh"/>.</summary>
    public int Partitions(int dim, LogicalMesh mesh) => AxesProduct(Mask(_dims[dim]), mesh);

    /// <summary>Number of distinct shards (devices holding different data).</summary>
    public int TotalPartitions(LogicalMesh mesh) => AxesProduct(UsedAxes, mesh);

    public static int AxesProduct(int mask, LogicalMesh mesh) =>
        ((mask & 1) != 0 ? mesh.N0 : 1) * ((mask & 2) != 0 ? mesh.N1 : 1);

    /// <summary>Bytes of one device's shard of a tensor of <paramref name="fullBytes"/>.</summary>
    public double ShardBytes(double fullBytes, LogicalMesh mesh) => fullBytes / TotalPartitions(mesh);

    /// <summary>True when the spec fits the shape: same rank and every split dim divisible.</summary>
    public bool Fits(Shape shape, LogicalMesh mesh)
    {
        if (shape.Rank != Rank) return false;
        for (var i = 0; i < Rank; i++)
            if (shape[i] % Partitions(i, mesh) != 0) return false;
        return true;
    }

    /// <summary>Throws a <see cref="ShardingSpecException"/> saying why the spec cannot lay out <paramref name="shape"/>.</summary>
    public void CheckFits(Shape shape, LogicalMesh mesh, string tensor)
    {
        if (shape.Rank != Rank)
            throw new ShardingSpecException($"spec {this} of '{tensor}' has {Rank} dims, the tensor {shape} has {shape.Rank}");
        for (var i = 0; i < Rank; i++)
            if (shape[i] % Partitions(i, mesh) != 0)
                throw new ShardingSpecException($"spec {this} of '{tensor}' splits dim {i} of {shape} into {Partitions(i, mesh)} parts, which does not divide it on mesh ({mesh.N0}, {mesh.N1})");
    }

    /// <summary>
    /// Every spec of a tensor of <paramref name="shape"/> on <paramref name="mesh"/> that divides it,
    /// using only axes of size &gt; 1 (axes of size 1 would only duplicate specs). Replicated first.
    /// </summary>
    public static List<ShardingSpec> All(Shape shape, LogicalMesh mesh)
    {
        var rank = shape.Rank;
        var result = new List<ShardingSpec>();
        var choices0 = mesh.N0 > 1 ? rank + 1 : 1;
        var choices1 = mesh.N1 > 1 ? rank + 1 : 1;
        for (var a0 = 0; a0 < choices0; a0++)
        {
            for (var a1 = 0; a1 < choices1; a1++)
            {
                var dims = new DimSharding[rank];
                if (a0 > 0) dims[a0 - 1] = DimSharding.S0;
                if (a1 > 0) dims[a1 - 1] = a1 == a0 ? DimSharding.S01 : DimSharding.S1;
                var spec = new ShardingSpec(dims);
                if (spec.Fits(shape, mesh)) result.Add(spec);
            }
        }
        return result;
    }

    public string[] ToStrings() => [.. _dims.Select(d => d.ToString())];

    /// <summary>Compact form, e.g. <c>S0RS1</c>; a scalar prints as <c>·</c>.</summary>
    public override string ToString() => _dims.Length == 0 ? "·" : string.Concat(_dims.Select(d => d.ToString()));

    public bool Equals(ShardingSpec? other) => other is not null && _hash == other._hash && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as ShardingSpec);
    public override int GetHashCode() => _hash;

    internal DimSharding[] ToArray() => (DimSharding[])_dims.Clone();
    internal static ShardingSpec FromOwned(DimSharding[] dims) => new(dims);
}
