using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>Precision of a cuBLAS matrix product.</summary>
public enum GemmPrecision
{
    /// <summary>f32 inputs and output, f32 arithmetic.</summary>
    F32,
    /// <summary>f32 inputs and output, TF32 tensor cores with f32 accumulation.</summary>
    Tf32,
    /// <summary>bf16 inputs (and output), f32 accumulation.</summary>
    Bf16,
}

/// <summary>
/// The arguments of one cublasGemmStridedBatchedEx call that computes row-major
/// C[m×n] = op(A) op(B) for each batch: cuBLAS is column-major, so it is asked for
/// Cᵀ = op(B)ᵀ op(A)ᵀ, i.e. the operands swapped and m, n exchanged.
/// </summary>
public readonly record struct GemmCall(int TransA, int TransB, int M, int N, int K, bool SwapOperands, int Lda, int Ldb, int Ldc)
{
    /// <summary>The column-major call for row-major operands (a is [m,k], or [k,m] when transposed; b is [k,n], or [n,k]).</summary>
    public static GemmCall RowMajor(bool transA, bool transB, int m, int n, int k) =>
        new(transB ? Cublas.OpT : Cublas.OpN, transA ? Cublas.OpT : Cublas.OpN, n, m, k, SwapOperands: true,
            Lda: transB ? k : n, Ldb: transA ? m : k, Ldc: n);
}

/// <summary>A cuBLAS handle bound to one device's stream.</summary>
public sealed unsafe class CudaBlas : NativeResource
{
    private readonly CudaDevice _device;
    private readonly nint _handle;

    internal CudaBlas(CudaDevice device)
    {
        _device = device;
        device.MakeCurrent();
        nint handle;
        CudaStatus.ThrowIfFailed(Cublas.Api.Create(&handle));
        _handle = handle;
        CudaStatus.ThrowIfFailed(Cublas.Api.SetStream(handle, device.Stream.Handle));
    }

    /// <summary>The precision used for inputs of <paramref name="type"/> on this device.</summary>
    public GemmPrecision PrecisionFor(ElementType type) =>
        type == ElementType.BF16 ? GemmPrecision.Bf16 : _device.Options.AllowTf32 ? GemmPrecision.Tf32 : GemmPrecision.F32;

    /// <summary>
    /// Row-major batched C = op(A)·op(B): <paramref name="batch"/> products, operands advanced by
    /// their strides in elements (0 shares an operand across the batch).
    /// </summary>
    public void Gemm(GemmPrecision precision, bool transA, bool transB, int m, int n, int k,
                     ulong a, long strideA, ulong b, long strideB, ulong c, ElementType cType, long strideC, int batch)
    {
        ThrowIfDisposed();
        var call = GemmCall.RowMajor(transA, transB, m, n, k);
        var inType = precision == GemmPrecision.Bf16 ? Cublas.DataR16BF : Cublas.DataR32F;
        var outType = cType == ElementType.BF16 ? Cublas.DataR16BF : Cublas.DataR32F;
        var compute = precision == GemmPrecision.Tf32 ? Cublas.Compute32FFastTf32 : Cublas.Compute32F;
        float alpha = 1f, beta = 0f;
        _device.MakeCurrent();
        if (batch == 1)
        {
            CudaStatus.ThrowIfFailed(Cublas.Api.GemmEx(_handle, call.TransA, call.TransB, call.M, call.N, call.K, &alpha,
                (void*)b, inType, call.Lda, (void*)a, inType, call.Ldb, &beta, (void*)c, outType, call.Ldc, compute, Cublas.GemmDefault));
            return;
        }
        CudaStatus.ThrowIfFailed(Cublas.Api.GemmStridedBatchedEx(_handle, call.TransA, call.TransB, call.M, call.N, call.K, &alpha,
            (void*)b, inType, call.Lda, strideB, (void*)a, inType, call.Ldb, strideA, &beta,
            (void*)c, outType, call.Ldc, strideC, batch, compute, Cublas.GemmDefault));
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (disposing) CudaStatus.ThrowIfFailed(Cublas.Api.Destroy(_handle));
    }
}
