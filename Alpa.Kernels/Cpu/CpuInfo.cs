using System.Runtime.Intrinsics.X86;
using Alpa.Kernels.Cpu.Native;

namespace Alpa.Kernels.Cpu;

/// <summary>What the CPU backend runs on and which kernels it uses.</summary>
public sealed record CpuKernelReport
{
    /// <summary>Processor model from /proc/cpuinfo (or "unknown").</summary>
    public required string Model { get; init; }
    /// <summary>Logical processors available to this process.</summary>
    public required int Cores { get; init; }
    /// <summary>The CPU supports AVX-512F.</summary>
    public required bool HasAvx512 { get; init; }
    /// <summary>Value of OPENBLAS_CORETYPE in this process's environment (null when unset).</summary>
    public string? OpenBlasCoreType { get; init; }
    /// <summary>Kernel family OpenBLAS selected at load (e.g. <c>SkylakeX</c>, <c>Haswell</c>).</summary>
    public required string OpenBlasCore { get; init; }
    /// <summary>OpenBLAS build configuration string.</summary>
    public required string OpenBlasConfig { get; init; }
    /// <summary>Threads OpenBLAS uses per call.</summary>
    public required int BlasThreads { get; init; }
    /// <summary>Widest vector width .NET uses for the element-wise kernels (512, 256 or 128 bits).</summary>
    public required int SimdBits { get; init; }
    /// <summary>Set when the configuration leaves speed on the table (AVX-512 present, SkylakeX kernels not selected).</summary>
    public string? Warning { get; init; }
}

/// <summary>Detects the CPU and reports the kernels in use.</summary>
public static class CpuInfo
{
    private static int s_warned;

    public static bool HasAvx512 => Avx512F.IsSupported;

    public static string ModelName
    {
        get
        {
            try
            {
                foreach (var line in File.ReadLines("/proc/cpuinfo"))
                    if (line.StartsWith("model name", StringComparison.Ordinal)) return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
            return "unknown";
        }
    }

    public static unsafe CpuKernelReport Report()
    {
        var api = OpenBlas.Api;
        var coreType = Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE");
        var core = OpenBlas.Utf8(api.GetCoreName()) ?? "unknown";
        string? warning = null;
        if (HasAvx512 && string.IsNullOrEmpty(coreType))
            warning = "the CPU has AVX-512 but OPENBLAS_CORETYPE is not set, so OpenBLAS may use its slower AVX2 kernels: "
                      + "export OPENBLAS_CORETYPE=SkylakeX before starting the process (./alpa does this)";
        return new CpuKernelReport
        {
            Model = ModelName,
            Cores = Environment.ProcessorCount,
            HasAvx512 = HasAvx512,
            OpenBlasCoreType = coreType,
            OpenBlasCore = core,
            OpenBlasConfig = OpenBlas.Utf8(api.GetConfig())?.Trim() ?? "unknown",
            BlasThreads = api.GetNumThreads(),
            SimdBits = System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? 512 : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? 256 : 128,
            Warning = warning,
        };
    }

    /// <summary>Writes the report's warning to stderr, once per process.</summary>
    internal static void WarnOnce()
    {
        if (Interlocked.Exchange(ref s_warned, 1) != 0) return;
        var w = Report().Warning;
        if (w is not null) Console.Error.WriteLine("warning: " + w);
    }
}
