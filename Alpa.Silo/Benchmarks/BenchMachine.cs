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
