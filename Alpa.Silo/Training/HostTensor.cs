namespace Alpa.Silo.Training;

/// <summary>A tensor in host memory fed to a graph input: floats or integers, row-major.</summary>
public sealed record HostTensor(long[] Shape, float[]? Floats, int[]? Ints)
{
    public static HostTensor Of(long[] shape, float[] values) => new(shape, values, null);
    public static HostTensor Of(long[] shape, int[] values) => new(shape, null, values);
    public static HostTensor Scalar(float value) => new([], [value], null);

    public long Elements => Floats?.LongLength ?? Ints?.LongLength ?? 0;
}
