namespace Alpa.Kernels.Cuda.Kernels;

/// <summary>Transpose, slice, concat and slice gradient: raw element moves (mirrors <c>Cpu/Kernels/Layout</c>).</summary>
public static class CudaLayout
{
    /// <summary>Output axis i is input axis <paramref name="axes"/>[i].</summary>
    public static void Transpose(Tensor x, ReadOnlySpan<int> axes, Tensor y)
    {
        CheckSameStorage(x, y);
        var strides = LaunchGeometry.PermutedStrides(x.Shape, axes);
        var shape = y.Shape.ToArray();
        CudaLaunch.Map(CudaLaunch.Device(y), "permute", y.Elements, k => k.Pointer(x).Pointer(y).Add(CudaLaunch.ElementSize(y))
            .Add(y.Elements).Add(y.Rank).Add(Dims.From(shape)).Add(Dims.From(strides)));
    }

    public static void Slice(Tensor x, Tensor y, long outer, long size, long inner, long start, long end)
    {
        CheckSameStorage(x, y);
        CudaLaunch.Map(CudaLaunch.Device(y), "slice", y.Elements, k => k.Pointer(x).Pointer(y).Add(CudaLaunch.ElementSize(y))
            .Add(outer).Add(size).Add(inner).Add(start).Add(end));
    }

    public static void ConcatPart(Tensor x, Tensor y, long outer, long part, long total, long inner, long offset)
    {
        CheckSameStorage(x, y);
        CudaLaunch.Map(CudaLaunch.Device(y), "concat_part", x.Elements, k => k.Pointer(x).Pointer(y).Add(CudaLaunch.ElementSize(y))
            .Add(outer).Add(part).Add(total).Add(inner).Add(offset));
    }

    public static void SliceGrad(Tensor dy, Tensor y, long outer, long size, long inner, long start, long end)
    {
        CheckSameStorage(dy, y);
        CudaLaunch.Map(CudaLaunch.Device(y), "slice_grad", y.Elements, k => k.Pointer(dy).Pointer(y).Add(CudaLaunch.ElementSize(y))
            .Add(outer).Add(size).Add(inner).Add(start).Add(end));
    }

    private static void CheckSameStorage(Tensor x, Tensor y)
    {
        if (CudaDevice.StorageSize(x.Type) != CudaDevice.StorageSize(y.Type) || x.Type.IsFloat() != y.Type.IsFloat())
            throw new KernelException($"layout op from {x} to {y}: element types differ");
    }
}

/// <summary>Sum, mean, max over any axes and the max gradient (mirrors <c>Cpu/Kernels/Reductions</c>).</summary>
public static class CudaReductions
{
    /// <summary>op: <see cref="CudaSources.ReduceSum"/>, <see cref="CudaSources.ReduceMean"/> or <see cref="CudaSources.ReduceMax"/>.</summary>
    public static void Reduce(int op, Tensor x, ReadOnlySpan<int> axes, Tensor y)
    {
        var (ks, kst, rs, rst) = LaunchGeometry.SplitAxes(x.Shape, axes);
        var count = rs.Aggregate(1L, (p, d) => p * d);
        CudaLaunch.Map(CudaLaunch.Device(y), "reduce", y.Elements, k => k.Add(op).Tensor(x).Tensor(y).Add(y.Elements).Add(count)
            .Add(ks.Length).Add(Dims.From(ks)).Add(Dims.From(kst)).Add(rs.Length).Add(Dims.From(rs)).Add(Dims.From(rst)));
    }

    /// <summary>dx = dy routed to the first maximum of x along <paramref name="axes"/>.</summary>
    public static void MaxGrad(Tensor x, ReadOnlySpan<int> axes, Tensor dy, Tensor dx)
    {
        var (ks, kst, rs, rst) = LaunchGeometry.SplitAxes(x.Shape, axes);
        var count = rs.Aggregate(1L, (p, d) => p * d);
        CudaLaunch.Map(CudaLaunch.Device(dx), "reduce_max_grad", dy.Elements, k => k.Tensor(x).Tensor(dy).Tensor(dx).Add(dy.Elements).Add(count)
            .Add(ks.Length).Add(Dims.From(ks)).Add(Dims.From(kst)).Add(rs.Length).Add(Dims.From(rs)).Add(Dims.From(rst)));
    }
}
