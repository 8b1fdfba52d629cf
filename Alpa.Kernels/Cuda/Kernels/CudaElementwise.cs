namespace Alpa.Kernels.Cuda.Kernels;

/// <summary>Element-wise, broadcasting, masking and optimizer launches (mirrors <c>Cpu/Kernels/Elementwise</c>, <c>Broadcasting</c>, <c>Optimizers</c>).</summary>
public static class CudaElementwise
{
    public static void Fill(Tensor y, float value) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "fill", y.Elements, a => a.Tensor(y).Add(y.Elements).Add(value));

    /// <summary>y = a op b with NumPy broadcasting (op: <see cref="CudaSources.BinaryAdd"/> …).</summary>
    public static void Binary(int op, Tensor a, Tensor b, Tensor y)
    {
        var sa = LaunchGeometry.BroadcastStrides(a.Shape, y.Shape);
        var sb = LaunchGeometry.BroadcastStrides(b.Shape, y.Shape);
        var shape = y.Shape.ToArray();
        CudaLaunch.Map(CudaLaunch.Device(y), "binary", y.Elements, k => k.Add(op).Tensor(a).Tensor(b).Tensor(y)
            .Add(y.Elements).Add(y.Rank).Add(Dims.From(shape)).Add(Dims.From(sa)).Add(Dims.From(sb)));
    }

    /// <summary>NumPy broadcast of x to y's shape.</summary>
    public static void BroadcastTo(Tensor x, Tensor y) => Binary(CudaSources.BinaryCopy, x, x, y);

    /// <summary>y = f(x) (op: <see cref="CudaSources.UnaryScale"/> …); a cast is the identity stored in y's format.</summary>
    public static void Unary(int op, Tensor x, Tensor y, float value) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "unary", y.Elements, k => k.Add(op).Tensor(x).Tensor(y).Add(y.Elements).Add(value));

    public static void UnaryGrad(int op, Tensor x, Tensor dy, Tensor dx) =>
        CudaLaunch.Map(CudaLaunch.Device(dx), "unary_grad", dx.Elements, k => k.Add(op).Tensor(x).Tensor(dy).Tensor(dx).Add(dx.Elements));

    public static void CausalMask(Tensor x, Tensor y, int q, int kv, float value) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "causal_mask", y.Elements, k => k.Tensor(x).Tensor(y).Add(y.Elements).Add(q).Add(kv).Add(value));

    public static void ClipCoefficient(Tensor sumOfSquares, Tensor y, float maxNorm) =>
        CudaLaunch.Run(CudaLaunch.Device(y), "clip_coefficient", new LaunchShape(1, 32), k => k.Tensor(sumOfSquares).Tensor(y).Add(maxNorm));

    public static void SgdMomentum(Tensor buf, Tensor g, Tensor y, float momentum) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "sgd_momentum", y.Elements, k => k.Tensor(buf).Tensor(g).Tensor(y).Add(y.Elements).Add(momentum));

    public static void SgdUpdate(Tensor p, Tensor d, Tensor lr, Tensor y, float weightDecay) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "sgd_update", y.Elements, k => k.Tensor(p).Tensor(d).Tensor(lr).Tensor(y).Add(y.Elements).Add(weightDecay));

    public static void AdamMoment(Tensor m, Tensor g, Tensor y, float beta, bool square) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "adam_moment", y.Elements, k => k.Tensor(m).Tensor(g).Tensor(y).Add(y.Elements).Add(beta).Add(square ? 1 : 0));

    public static void AdamUpdate(Tensor p, Tensor m, Tensor v, Tensor lr, Tensor step, Tensor y, float beta1, float beta2, float eps, float weightDecay) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "adam_update", y.Elements, k => k.Tensor(p).Tensor(m).Tensor(v).Tensor(lr).Tensor(step).Tensor(y)
            .Add(y.Elements).Add(beta1).Add(beta2).Add(eps).Add(weightDecay));
}
