using System.Collections;

namespace Alpa.Planner.Graph;

/// <summary>
/// A static tensor shape. Dimensions are <see cref="long"/>: paper-scale graphs have tensors of
/// more than 2^31 elements (GPT-39B logits: 1024 × 1024 × 51200).
/// </summary>
public sealed class Shape : IEquatable<Shape>, IReadOnlyList<long>
{
    private readonly long[] _dims;

    public Shape(params long[] dims)
    {
        foreach (var d in dims)
        {
            if (d < 0) throw new ShapeException($"shape [{string.Join(", ", dims)}] has a negative dimension");
        }
        _dims = (long[])dims.Clone();
    }

    public static Shape Scalar { get; } = new();

    public int Rank => _dims.Length;
    public int Count => _dims.Length;
    public long this[int axis] => _dims[axis < 0 ? axis + _dims.Length : axis];

    /// <summary>Number of elements (1 for a scalar).</summary>
    public long Elements
    {
        get
        {
            long n = 1;
            foreach (var d in _dims) n *= d;
            return n;
        }
    }

    public long[] ToArray() => (long[])_dims.Clone();
    public ReadOnlySpan<long> AsSpan() => _dims;

    /// <summary>Normalizes a possibly negative axis; throws when it is out of range.</summary>
    public int Axis(int axis)
    {
        var a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new ShapeException($"axis {axis} is out of range for shape {this}");
        return a;
    }

    public Shape With(int axis, long size)
    {
        var d = ToArray();
        d[Axis(axis)] = size;
        return new Shape(d);
    }

    public Shape Concat(params long[] tail) => new([.. _dims, .. tail]);
    public Shape Take(int count) => new(_dims[..count]);
    public Shape Skip(int count) => new(_dims[count..]);

    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);
    public override bool Equals(object? obj) => Equals(obj as Shape);
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in _dims) h.Add(d);
        return h.ToHashCode();
    }

    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);
    public static bool operator !=(Shape? a, Shape? b) => !(a == b);

    public override string ToString() => "[" + string.Join(", ", _dims) + "]";
    public IEnumerator<long> GetEnumerator() => ((IEnumerable<long>)_dims).GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => _dims.GetEnumerator();

    /// <summary>NumPy broadcasting of two shapes; null when they do not broadcast.</summary>
    public static Shape? Broadcast(Shape a, Shape b)
    {
        var rank = Math.Max(a.Rank, b.Rank);
        var dims = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i < rank - a.Rank ? 1 : a._dims[i - (rank - a.Rank)];
            var db = i < rank - b.Rank ? 1 : b._dims[i - (rank - b.Rank)];
            if (da != db && da != 1 && db != 1) return null;
            dims[i] = Math.Max(da, db);
        }
        return new Shape(dims);
    }
}
