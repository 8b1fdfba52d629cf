namespace Alpa.Kernels.Cuda.Native;

/// <summary>cuBLAS (cublas_api.h), loaded on first use from <see cref="CudaLibrary.Cublas"/>.</summary>
internal static unsafe class Cublas
{
    /// <summary>cublasOperation_t.</summary>
    public const int OpN = 0, OpT = 1;
    /// <summary>cudaDataType (library_types.h).</summary>
    public const int DataR32F = 0, DataR16BF = 14;
    /// <summary>cublasComputeType_t.</summary>
    public const int Compute32F = 68, Compute32FFastTf32 = 77;
    /// <summary>cublasGemmAlgo_t: CUBLAS_GEMM_DEFAULT.</summary>
    public const int GemmDefault = -1;

    private static readonly Lazy<Exports> s_exports = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed class Exports
    {
        public required delegate* unmanaged<nint*, CublasStatus> Create { get; init; }
        public required delegate* unmanaged<nint, CublasStatus> Destroy { get; init; }
        public required delegate* unmanaged<nint, nint, CublasStatus> SetStream { get; init; }

        /// <summary>handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc, computeType, algo.</summary>
        public required delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, CublasStatus> GemmEx { get; init; }

        /// <summary>As GemmEx with a stride after each leading dimension and batchCount before computeType.</summary>
        public required delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, long, void*, int, int, long, void*, void*, int, int, long, int, int, int, CublasStatus> GemmStridedBatchedEx { get; init; }
    }

    public static Exports Api => s_exports.Value;

    private static Exports Load()
    {
        var h = CudaLibraries.Load(CudaLibrary.Cublas);
        nint E(string symbol) => CudaLibraries.Export(h, CudaLibrary.Cublas, symbol);
        return new Exports
        {
            Create = (delegate* unmanaged<nint*, CublasStatus>)E("cublasCreate_v2"),
            Destroy = (delegate* unmanaged<nint, CublasStatus>)E("cublasDestroy_v2"),
            SetStream = (delegate* unmanaged<nint, nint, CublasStatus>)E("cublasSetStream_v2"),
            GemmEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, void*, int, int, void*, void*, int, int, int, int, CublasStatus>)E("cublasGemmEx"),
            GemmStridedBatchedEx = (delegate* unmanaged<nint, int, int, int, int, int, void*, void*, int, int, long, void*, int, int, long, void*, void*, int, int, long, int, int, int, CublasStatus>)E("cublasGemmStridedBatchedEx"),
        };
    }
}
