using Alpa.Kernels.Cpu;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// How local CPU devices share this machine's cores. The devices of a mesh (and the stages of a
/// pipeline) run concurrently, one thread each; with OpenBLAS using every core per GEMM they would
/// take turns on GEMMs, and its idle threads spin (sched_yield) between the many tiny GEMMs of small
/// models, burning the cores the other devices need (bench/results/pipeline.md measures both).
/// </summary>
public static class LocalCores
{
    /// <summary>
    /// Used by <c>alpa bench pipeline</c>; not yet by <c>alpa train</c>: GEMM results depend on the
    /// OpenBLAS thread count, so a process-wide switch while another job of the same process (e.g. tests
    /// run in parallel) is mid-step would make that job's reruns differ in the last bits.
    /// Gives each of <paramref name="devices"/> concurrently running devices cores / devices BLAS
    /// threads (at least 1; with 1 the GEMMs of different devices run at once, see <see cref="CpuBlas"/>).
    /// Process-wide until the returned scope is disposed, which restores the previous count.
    /// </summary>
    public static IDisposable Share(int devices)
    {
        if (devices < 1) throw new ExecutionException($"devices must be ≥ 1, got {devices}");
        var previous = CpuBlas.Threads;
        CpuBlas.SetThreads(Math.Max(1, Environment.ProcessorCount / devices));
        return new Restore(previous);
    }

    private sealed class Restore(int threads) : IDisposable
    {
        public void Dispose() => CpuBlas.SetThreads(threads);
    }
}
