namespace Alpa.Kernels.Cuda.Kernels;

/// <summary>Row and channel kernels: softmax, layer and batch norm, their gradients (mirrors <c>Cpu/Kernels/Normalization</c>).</summary>
public static class CudaNormalization
{
    public static void Softmax(Tensor x, Tensor y, int rows, int cols) =>
        CudaLaunch.Run(CudaLaunch.Device(y), "softmax", LaunchGeometry.PerRow(rows, cols), k => k.Tensor(x).Tensor(y).Add(cols));

    public static void SoftmaxGrad(Tensor y, Tensor dy, Tensor dx, int rows, int cols) =>
        CudaLaunch.Run(CudaLaunch.Device(dx), "softmax_grad", LaunchGeometry.PerRow(rows, cols), k => k.Tensor(y).Tensor(dy).Tensor(dx).Add(cols));

    public static void LayerNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, int rows, int cols, float eps) =>
        CudaLaunch.Run(CudaLaunch.Device(y), "layer_norm", LaunchGeometry.PerRow(rows, cols),
                       k => k.Tensor(x).Tensor(gamma).Tensor(beta).Tensor(y).Add(cols).Add(eps));

    public static void LayerNormGradInput(Tensor x, Tensor gamma, Tensor dy, Tensor dx, int rows, int cols, float eps) =>
        CudaLaunch.Run(CudaLaunch.Device(dx), "layer_norm_grad_input", LaunchGeometry.PerRow(rows, cols),
                       k => k.Tensor(x).Tensor(gamma).Tensor(dy).Tensor(dx).Add(cols).Add(eps));

    public static void LayerNormGradGamma(Tensor x, Tensor dy, Tensor dgamma, int rows, int cols, float eps)
    {
        var device = CudaLaunch.Device(dgamma);
        using var mean = device.Allocate(ElementType.F32, [rows]);
        using var rstd = device.Allocate(ElementType.F32, [rows]);
        CudaLaunch.Run(device, "row_stats", LaunchGeometry.PerRow(rows, cols), k => k.Tensor(x).Pointer(mean).Pointer(rstd).Add(cols).Add(eps));
        CudaLaunch.Run(device, "layer_norm_grad_gamma", LaunchGeometry.PerRow(cols, rows),
                       k => k.Tensor(x).Tensor(dy).Pointer(mean).Pointer(rstd).Tensor(dgamma).Add(rows).Add(cols));
    }

    public static void BatchNorm(Tensor x, Tensor gamma, Tensor beta, Tensor y, int rows, int channels, float eps) =>
        CudaLaunch.Run(CudaLaunch.Device(y), "batch_norm", LaunchGeometry.PerRow(channels, rows),
                       k => k.Tensor(x).Tensor(gamma).Tensor(beta).Tensor(y).Add(rows).Add(channels).Add(eps));

    public static void BatchNormGradInput(Tensor x, Tensor gamma, Tensor dy, Tensor dx, int rows, int channels, float eps) =>
        CudaLaunch.Run(CudaLaunch.Device(dx), "batch_norm_grad_input", LaunchGeometry.PerRow(channels, rows),
                       k => k.Tensor(x).Tensor(gamma).Tensor(dy).Tensor(dx).Add(rows).Add(channels).Add(eps));

    public static void BatchNormGradGamma(Tensor x, Tensor dy, Tensor dgamma, int rows, int channels, float eps) =>
        CudaLaunch.Run(CudaLaunch.Device(dgamma), "batch_norm_grad_gamma", LaunchGeometry.PerRow(channels, rows),
                       k => k.Tensor(x).Tensor(dy).Tensor(dgamma).Add(rows).Add(channels).Add(eps));
}

/// <summary>Embedding and cross-entropy (mirrors <c>Cpu/Kernels/Indexing</c>).</summary>
public static class CudaIndexing
{
    public static void Embedding(Tensor table, Tensor ids, Tensor y, int vocab, int hidden) =>
        CudaLaunch.Map(CudaLaunch.Device(y), "embedding", y.Elements, k => k.Tensor(table).Pointer(ids).Tensor(y).Add(y.Elements).Add(vocab).Add(hidden));

    /// <summary>dtable = scatter-add of dy rows at ids (f32 atomics; a bf16 table gradient goes through an f32 accumulator).</summary>
    public static void EmbeddingGrad(Tensor ids, Tensor dy, Tensor dtable, int vocab, int hidden) =>
        CudaLaunch.WithF32(dtable, zeroed: true, acc =>
            CudaLaunch.Map(CudaLaunch.Device(acc), "embedding_grad", dy.Elements, k => k.Pointer(ids).Tensor(dy).Pointer(acc).Add(dy.Elements).Add(vocab).Add(hidden)));

    /// <summary>loss (a scalar) = mean over rows of logsumexp(row) − row[label].</summary>
    public static void CrossEntropy(Tensor logits, Tensor labels, Tensor loss, int rows, int classes) =>
        CudaLaunch.WithF32(loss, zeroed: true, acc =>
            CudaLaunch.Run(CudaLaunch.Device(acc), "cross_entropy", LaunchGeometry.PerRow(rows, classes),
                           k => k.Tensor(logits).Pointer(labels).Pointer(acc).Add(rows).Add(classes)));

    public static void CrossEntropyGrad(Tensor logits, Tensor labels, Tensor dloss, Tensor dlogits, int rows, int classes) =>
        CudaLaunch.Run(CudaLaunch.Device(dlogits), "cross_entropy_grad", LaunchGeometry.PerRow(rows, classes),
                       k => k.Tensor(logits).Pointer(labels).Tensor(dloss).Tensor(dlogits).Add(rows).Add(classes));
}
