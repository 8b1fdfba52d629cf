using Alpa.Planner.Graph;

namespace Alpa.Silo.Selftest.Reference;

/// <summary>
/// A float64 tensor for the reference evaluator: a shape and its values in row-major order.
/// I32 tensors hold their integer values in the doubles.
/// </summary>
public sealed class RefTensor
{
    public RefTensor(Shape shape, double[] data)
    {
        if (data.LongLength != shape.Elements)
            throw new ArgumentException($"{data.Length} values do not fill shape {shape}", nameof(data));
        Shape = shape;
        Data = data;
    }

    public Shape Shape { get; }
    public double[] Data { get; }

    public static RefTensor Zeros(Shape shape) => new(shape, new double[shape.Elements]);

    public static RefTensor Filled(Shape shape, double value)
    {
        var t = Zeros(shape);
        Array.Fill(t.Data, value);
        return t;
    }

    public static RefTensor Scalar(double value) => new(Shape.Scalar, [value]);

    /// <summary>Values drawn uniformly from [lo, hi).</summary>
    public static RefTensor Uniform(Shape shape, Random rng, double lo = -1, double hi = 1)
    {
        var t = Zeros(shape);
        for (var i = 0; i < t.Data.Length; i++) t.Data[i] = lo + (hi - lo) * rng.NextDouble();
        return t;
    }

    /// <summary>Integers drawn uniformly from [0, bound) (token ids, labels).</summary>
    public static RefTensor Integers(Shape shape, Random rng, int bound)
    {
        var t = Zeros(shape);
        for (var i = 0; i < t.Data.Length; i++) t.Data[i] = rng.Next(bound);
        return t;
    }

    public RefTensor Clone() => new(Shape, (double[])Data.Clone());

    /// <summary>The element at a multi-index.</summary>
    public double this[params long[] index] => Data[Flat(Shape, index)];

    /// <summary>The single value of a one-element tensor.</summary>
    public double Value => Data.Length == 1 ? Data[0] : throw new InvalidOperationException($"tensor {Shape} is not a scalar");

    /// <summary>Row-major strides of a shape.</summary>
    public static long[] Strides(Shape shape)
    {
        var s = new long[shape.Rank];
        long acc = 1;
        for (var i = shape.Rank - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /// <summary>Flat offset of a multi-index.</summary>
    public static long Flat(Shape shape, ReadOnlySpan<long> index)
    {
        long flat = 0;
        for (var i = 0; i < shape.Rank; i++) flat = flat * shape[i] + index[i];
        return flat;
    }

    /// <summary>Multi-index of a flat offset, written into <paramref name="index"/>.</summary>
    public static void Unravel(Shape shape, long flat, Span<long> index)
    {
        for (var i = shape.Rank - 1; i >= 0; i--)
        {
            index[i] = flat % shape[i];
            flat /= shape[i];
        }
    }

    public override string ToString() => $"{Shape} [{string.Join(", ", Data.Take(8).Select(v => v.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)))}{(Data.Length > 8 ? ", …" : "")}]";
}
