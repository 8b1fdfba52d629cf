using Alpa.Kernels.Cpu;

namespace Alpa.Silo.Execution.Bench;

/// <summary>Options of <see cref="GemmBench.Run"/>.</summary>
public sealed record GemmBenchOptions
{
    /// <summary>Folder the Markdown and JSON results are written to (created when missing).</summary>
    public string OutputDirectory { get; init; } = Path.Combine("bench", "results");
    /// <summary>The command line recorded in the results (what a reader runs to reproduce them).</summary>
    public string Command { get; init; } = "alpa bench gemm";
    /// <summary>Timed repetitions per case; the best is reported. At least 1.</summary>
    public int Repetitions { get; init; } = 5;
    /// <summary>Size of the square reference GEMM (DESIGN §2 quotes 2048³).</summary>
    public int ReferenceSize { get; init; } = 2048;
    /// <summary>Write the result files (false: only return the result).</summary>
    public bool WriteFiles { get; init; } = true;
}

/// <summary>One measured GEMM configuration.</summary>
public sealed record GemmBenchCase
{
    /// <summary>What the case is, e.g. <c>gpt h=512 mlp fc1</c>.</summary>
    public required string Name { get; init; }
    /// <summary><c>layer</c>: through <c>Linear.MatMul</c> (our batching and locking); <c>cblas</c>: one direct <c>cblas_sgemm</c>.</summary>
    public required string Path { get; init; }
    public required int Batch { get; init; }
    public required int M { get; init; }
    public required int N { get; init; }
    public required int K { get; init; }
    public required bool TransA { get; init; }
    public required bool TransB { get; init; }
    /// <summary>OpenBLAS threads during the case.</summary>
    public required int Threads { get; init; }
    /// <summary>Best wall time of one call in seconds.</summary>
    public required double Seconds { get; init; }
    /// <summary>2·batch·m·n·k / <see cref="Seconds"/> / 1e9.</summary>
    public required double GFlops { get; init; }
}

/// <summary>The result of a GEMM benchmark run.</summary>
public sealed record GemmBenchResult
{
    public required string Command { get; init; }
    /// <summary>UTC time of the run, ISO 8601.</summary>
    public required string Date { get; init; }
    /// <summary>CPU model, cores, OpenBLAS kernels and threads in use.</summary>
    public required CpuKernelReport Machine { get; init; }
    /// <summary>Measured FMA peak of all cores: independent Vector512 (or 256) FMA chains on every core, GFLOP/s.</summary>
    public required double FmaPeakGFlops { get; init; }
    /// <summary>/proc/loadavg before and after the run: other processes on the cores make every number lower.</summary>
    public required string LoadAverage { get; init; }
    public required IReadOnlyList<GemmBenchCase> Cases { get; init; }
    /// <summary>Paths of the written Markdown and JSON files (null when not written).</summary>
    public string? MarkdownPath { get; init; }
    public string? JsonPath { get; init; }
}
