namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>The batched matmul of the IR on <see cref="CpuBlas"/>.</summary>
public static class Linear
{
    /// <summary>
    /// y [..., m, n] = op(a) [..., m, k] × op(b) [..., k, n]; op transposes the last two axes when
    /// the flag is set. b may be 2-D and shared by every batch. With a 2-D, untransposed b and an
    /// untransposed a the batch folds into one GEMM of m·batch rows.
    /// </summary>
    public static void MatMul(ReadOnlySpan<float> a, ReadOnlySpan<long> aShape, bool transA,
                              ReadOnlySpan<float> b, ReadOnlySpan<long> bShape, bool transB, Span<float> y)
    {
        if (aShape.Length < 2 || bShape.Length < 2) throw new KernelException("matmul operands need rank ≥ 2");
        var m = (int)(transA ? aShape[^1] : aShape[^2]);
        var k = (int)(transA ? aShape[^2] : aShape[^1]);
        var kb = (int)(transB ? bShape[^1] : bShape[^2]);
        var n = (int)(transB ? bShape[^2] : bShape[^1]);
        if (k != kb) throw new KernelException($"matmul contraction sizes differ: {k} vs {kb}");
        long batch = 1;
        foreach (var d in aShape[..^2]) batch *= d;
        long bBatch = 1;
        foreach (var d in bShape[..^2]) bBatch *= d;
        if (bShape.Length > 2 && bBatch != batch) throw new KernelException($"matmul batch sizes differ: {batch} vs {bBatch}");
        var shared = bShape.Length == 2;
        if (shared && !transA)
        {
            CpuBlas.SgemmBatched(false, transB, 1, (int)(batch * m), n, k, a, 0, b, 0, y);
            return;
        }
        CpuBlas.SgemmBatched(transA, transB, (int)batch, m, n, k, a, (long)m * k, b, shared ? 0 : (long)k * n, y);
    }
}
