using Alpa.Kernels.Cpu.Native;

namespace Alpa.Kernels.Cpu;

/// <summary>
/// Single-precision GEMM through OpenBLAS <c>cblas_sgemm</c> (row-major).
/// <para>
/// Threading policy: Debian's OpenBLAS (pthreads variant) has one process-wide thread pool and
/// thread count, and concurrent multi-threaded calls queue on it anyway. So every GEMM of every
/// CPU device in the process takes one lock and runs with <see cref="Threads"/> threads (default:
/// all cores). One device thus uses the whole machine, and several devices share it by taking
/// turns on GEMMs while their element-wise kernels run concurrently on their own threads.
/// <see cref="SetThreads"/> overrides the count (benchmarks).
/// </para>
/// </summary>
public static unsafe class CpuBlas
{
    private static readonly Lock s_gate = new();
    private static int s_threads;

    /// <summary>Threads per GEMM (process-wide).</summary>
    public static int Threads
    {
        get
        {
            EnsureLoaded();
            return s_threads;
        }
    }

    /// <summary>Sets the process-wide OpenBLAS thread count (≥ 1).</summary>
    public static void SetThreads(int threads)
    {
        if (threads < 1) throw new KernelException($"BLAS threads must be ≥ 1, got {threads}");
        EnsureLoaded();
        lock (s_gate)
        {
            OpenBlas.Api.SetNumThreads(threads);
            s_threads = threads;
        }
    }

    private static void EnsureLoaded()
    {
        if (s_threads != 0) return;
        var api = OpenBlas.Api;
        lock (s_gate)
        {
            if (s_threads != 0) return;
            api.SetNumThreads(Environment.ProcessorCount);
            s_threads = Environment.ProcessorCount;
        }
        CpuInfo.WarnOnce();
    }

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C with op(A) [m, k], op(B) [k, n], C [m, n], all row-major with
    /// leading dimensions lda, ldb, ldc.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
                             float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (m == 0 || n == 0) return;
        EnsureLoaded();
        if (k == 0)
        {
            // C = beta·C; explicit so that beta = 0 overwrites whatever C held.
            for (var i = 0; i < m; i++)
            {
                var row = new Span<float>(c + (long)i * ldc, n);
                if (beta == 0f) row.Clear();
                else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
            }
            return;
        }
        var api = OpenBlas.Api;
        lock (s_gate)
        {
            api.Sgemm(OpenBlas.RowMajor, transA ? OpenBlas.Trans : OpenBlas.NoTrans, transB ? OpenBlas.Trans : OpenBlas.NoTrans,
                      m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        }
    }

    /// <summary>
    /// Batched GEMM over dense row-major operands: for each of <paramref name="batch"/> products,
    /// C_i = op(A_i)·op(B_i) (+ C_i when <paramref name="accumulate"/>), where A_i starts at
    /// i·strideA (0 for a shared operand), B_i at i·strideB and C_i at i·m·n.
    /// op(A) is [m, k] (stored [k, m] when transA), op(B) is [k, n] (stored [n, k] when transB).
    /// </summary>
    public static void SgemmBatched(bool transA, bool transB, int batch, int m, int n, int k,
                                    ReadOnlySpan<float> a, long strideA, ReadOnlySpan<float> b, long strideB,
                                    Span<float> c, bool accumulate = false)
    {
        ThrowHelper.CheckLength(a.Length, (batch - 1) * strideA + (long)m * k, "A");
        ThrowHelper.CheckLength(b.Length, (batch - 1) * strideB + (long)k * n, "B");
        ThrowHelper.CheckLength(c.Length, (long)batch * m * n, "C");
        var lda = transA ? m : k;
        var ldb = transB ? k : n;
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (var i = 0; i < batch; i++)
                Sgemm(transA, transB, m, n, k, 1f, pa + i * strideA, lda, pb + i * strideB, ldb,
                      accumulate ? 1f : 0f, pc + (long)i * m * n, n);
        }
    }
}
