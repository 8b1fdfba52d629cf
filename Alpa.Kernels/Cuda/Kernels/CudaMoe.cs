namespace Alpa.Kernels.Cuda.Kernels;

/// <summary>GShard gating, dispatch and combine (mirrors <c>Cpu/Kernels/Moe</c>).</summary>
public static class CudaMoe
{
    public static void Gate(Tensor logits, Tensor combine, int groups, int tokens, int experts, int capacity)
    {
        var device = CudaLaunch.Device(combine);
        using var counts = device.Allocate(ElementType.I32, [groups, experts]);
        device.Clear(counts);
        device.Clear(combine);
        CudaLaunch.Map(device, "moe_gate", groups, k => k.Tensor(logits).Tensor(combine).Pointer(counts)
            .Add(groups).Add(tokens).Add(experts).Add(capacity));
    }

    public static void GateGrad(Tensor logits, Tensor dcombine, Tensor dlogits, int groups, int tokens, int experts, int capacity)
    {
        var device = CudaLaunch.Device(dlogits);
        using var counts = device.Allocate(ElementType.I32, [groups, experts]);
        device.Clear(counts);
        CudaLaunch.Map(device, "moe_gate_grad", groups, k => k.Tensor(logits).Tensor(dcombine).Tensor(dlogits).Pointer(counts)
            .Add(groups).Add(tokens).Add(experts).Add(capacity));
    }

    public static void Dispatch(Tensor x, Tensor combine, Tensor y, int groups, int tokens, int experts, int capacity, int model, bool mask) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "moe_dispatch", y.Elements, k => k.Tensor(x).Tensor(combine).Tensor(y)
            .Add(groups).Add(tokens).Add(experts).Add(capacity).Add(model).Add(mask ? 1 : 0));

    public static void Combine(Tensor y, Tensor combine, Tensor output, int groups, int tokens, int experts, int capacity, int model, bool mask) =>
        CudaLaunch.Map(CudaLaunch.Device(output), "moe_combine", output.Elements, k => k.Tensor(y).Tensor(combine).Tensor(output)
            .Add(groups).Add(tokens).Add(experts).Add(capacity).Add(model).Add(mask ? 1 : 0));

    public static void CombineGradWeights(Tensor dout, Tensor y, Tensor dcombine, int groups, int tokens, int experts, int capacity, int model) =>
        CudaLaunch.Map(CudaLaunch.Device(dcombine), "moe_combine_grad_weights", dcombine.Elements, k => k.Tensor(dout).Tensor(y).Tensor(dcombine)
            .Add(groups).Add(tokens).Add(experts).Add(capacity).Add(model));
}

/// <summary>NHWC convolution and pooling (mirrors <c>Cpu/Kernels/Convolution</c> and <c>Pooling</c>).</summary>
public static class CudaConvolution
{
    public static void Forward(Tensor x, Tensor w, Tensor y, ConvShape g) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "conv2d", y.Elements, k => k.Tensor(x).Tensor(w).Tensor(y).Add(g));

    public static void GradInput(Tensor dy, Tensor w, Tensor dx, ConvShape g) =>
        CudaLaunch.Map(CudaLaunch.Device(dx), "conv2d_grad_input", dx.Elements, k => k.Tensor(dy).Tensor(w).Tensor(dx).Add(g));

    public static void GradWeight(Tensor x, Tensor dy, Tensor dw, ConvShape g) =>
        CudaLaunch.Map(CudaLaunch.Device(dw), "conv2d_grad_weight", dw.Elements, k => k.Tensor(x).Tensor(dy).Tensor(dw).Add(g));

    /// <summary>Max (or average, padding counted as zeros) pooling; the geometry's Ci is the channel count.</summary>
    public static void Pool(bool average, Tensor x, Tensor y, ConvShape g) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "pool", y.Elements, k => k.Add(average ? 1 : 0).Tensor(x).Tensor(y).Add(g));

    /// <summary>Pooling gradient; x is only read by max pooling (pass dy for average pooling).</summary>
    public static void PoolGrad(bool average, Tensor x, Tensor dy, Tensor dx, ConvShape g) =>
        CudaLaunch.Map(CudaLaunch.Device(dx), "pool_grad", dx.Elements, k => k.Add(average ? 1 : 0).Tensor(x).Tensor(dy).Tensor(dx).Add(g));
}

/// <summary>Batched matrix products through cuBLAS (mirrors <c>Cpu/Kernels/Linear</c>).</summary>
public static class CudaLinear
{
    /// <summary>
    /// The einsum "...mk,...kn->...mn" of the IR: a [..., m, k] (transposed when <paramref name="transA"/>),
    /// b [..., k, n] or a 2-D b shared by every batch, y [..., m, n].
    /// </summary>
    public static void MatMul(Tensor a, bool transA, Tensor b, bool transB, Tensor y)
    {
        var device = CudaLaunch.Device(y);
        if (CudaDevice.StorageSize(a.Type) != CudaDevice.StorageSize(b.Type))
            throw new KernelException($"matmul of {a} and {b}: the operands' storage differs");
        ReadOnlySpan<long> sa = a.Shape, sb = b.Shape;
        int m = (int)(transA ? sa[^1] : sa[^2]), k = (int)(transA ? sa[^2] : sa[^1]);
        int n = (int)(transB ? sb[^2] : sb[^1]);
        var batch = (int)(a.Elements / ((long)m * k));
        var strideB = b.Rank == 2 ? 0 : (long)k * n;
        device.Blas.Gemm(device.Blas.PrecisionFor(a.Type), transA, transB, m, n, k,
                         a.DevicePointer(), (long)m * k, b.DevicePointer(), strideB, y.DevicePointer(), y.Type, (long)m * n, batch);
    }
}
