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
/// <see cref="SetThreads"/> overrides the count; with 1 thread per GEMM the calls take no lock, so
/// devices that run concurrently (one core each) compute their GEMMs at once. Batches of small products
/// (<see cref="SmallGemmFlops"/>) instead run single-threaded GEMMs on all cores at once.
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
        if (Volatile.Read(ref s_threads) == 1)
        {
            // Single-threaded GEMMs run in the caller's thread and are reentrant: devices that run
            // concurrently (one core each) do not take turns.
            api.Sgemm(OpenBlas.RowMajor, transA ? OpenBlas.Trans : OpenBlas.NoTrans, transB ? OpenBlas.Trans : OpenBlas.NoTrans,
                      m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
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
            // With one BLAS thread per device (devices running concurrently, one core each) the batch
            // stays on the caller's core: spreading it would take the other devices' cores.
            var workers = Math.Min(batch, Environment.ProcessorCount);
            if (workers > 1 && Threads > 1 && 2.0 * m * n * k < SmallGemmFlops)
            {
                SmallBatch(transA, transB, batch, m, n, k, (nint)pa, strideA, lda, (nint)pb, strideB, ldb, (nint)pc, accumulate, workers);
                return;
            }
            for (var i = 0; i < batch; i++)
                Sgemm(transA, transB, m, n, k, 1f, pa + i * strideA, lda, pb + i * strideB, ldb,
                      accumulate ? 1f : 0f, pc + (long)i * m * n, n);
        }
    }

    /// <summary>Below this many FLOPs per product, a batch runs one single-threaded GEMM per core instead of one multi-threaded GEMM after another.</summary>
    public const double SmallGemmFlops = 32e6;

    /// <summary>
    /// Many small products (per-head attention): OpenBLAS set to 1 thread, the batch split over
    /// the cores, each item computed whole by one thread (so results do not depend on the split).
    /// Holds the lock for the whole batch, like one large GEMM.
    /// </summary>
    private static void SmallBatch(bool transA, bool transB, int batch, int m, int n, int k, nint a, long strideA, int lda,
                                   nint b, long strideB, int ldb, nint c, bool accumulate, int workers)
    {
        if (k == 0)
        {
            for (var i = 0; i < batch; i++)
                Sgemm(transA, transB, m, n, k, 1f, null, lda, null, ldb, accumulate ? 1f : 0f, (float*)c + (long)i * m * n, n);
            return;
        }
        EnsureLoaded();
        var api = OpenBlas.Api;
        lock (s_gate)
        {
            api.SetNumThreads(1);
            try
            {
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, w =>
                {
                    for (var i = w; i < batch; i += workers)
                        api.Sgemm(OpenBlas.RowMajor, transA ? OpenBlas.Trans : OpenBlas.NoTrans, transB ? OpenBlas.Trans : OpenBlas.NoTrans,
                                  m, n, k, 1f, (float*)a + i * strideA, lda, (float*)b + i * strideB, ldb,
                                  accumulate ? 1f : 0f, (float*)c + (long)i * m * n, n);
                });
            }
            finally
            {
                api.SetNumThreads(s_threads);
            }
        }
    }
}
