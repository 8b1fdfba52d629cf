using System.Diagnostics;
using System.Globalization;
using Alpa.Kernels.Cpu;

namespace Alpa.Silo.Benchmarks;

/// <summary>What every benchmark result records about where and when it ran.</summary>
public static class BenchMachine
{
    /// <summary>The 1, 5 and 15 minute load averages: above the core count, other work shared the cores.</summary>
    public static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    /// <summary>One line: CPU model, cores, AVX-512, OpenBLAS core.</summary>
    public static string Describe()
    {
        var r = CpuInfo.Report();
        return $"{r.Model}, {r.Cores} cores, AVX-512: {(r.HasAvx512 ? "yes" : "no")}, OpenBLAS core {r.OpenBlasCore}";
    }

    /// <summary>FLOP/s of cblas_sgemm on n×n×n with all cores: the best of <paramref name="repetitions"/> runs.</summary>
    public static unsafe double GemmFlops(int n, int repetitions)
    {
        var a = new float[n * n];
        var b = new float[n * n];
        var c = new float[n * n];
        a.AsSpan().Fill(0.5f);
        b.AsSpan().Fill(0.25f);
        var best = double.MaxValue;
        fixed (float* pa = a, pb = b, pc = c)
        {
            for (var rep = 0; rep < repetitions; rep++)
            {
                var t = Stopwatch.GetTimestamp();
                CpuBlas.Sgemm(false, false, n, n, n, 1f, pa, n, pb, n, 0f, pc, n);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
            }
        }
        return 2.0 * n * n * n / best;
    }

    public static string Date() => DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>The results folder (bench/results under the repository root, found from the working directory).</summary>
    public static string ResultsFolder()
    {
        var dir = new DirectoryInfo(Environment.CurrentDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Alpa.sln"))) dir = dir.Parent;
        var root = dir?.FullName ?? Environment.CurrentDirectory;
        var path = Path.Combine(root, "bench", "results");
        Directory.CreateDirectory(path);
        return path;
    }
}
