using Alpa.Kernels;
using Alpa.Kernels.Cuda;
using Alpa.Kernels.Cuda.Kernels;

namespace Alpa.Silo.Selftest;

/// <summary>One measured GEMM shape and precision.</summary>
/// <param name="Precision">f32, tf32 or bf16.</param>
/// <param name="Milliseconds">Mean time of one product (CUDA events around the timed repetitions).</param>
/// <param name="Tflops">2·m·n·k / time.</param>
public sealed record GemmRate(string Precision, int M, int N, int K, double Milliseconds, double Tflops);

/// <summary>cuBLAS GEMM throughput of one GPU in f32, TF32 and bf16 (square 4096³ and a GPT-like 8192×4096×1024).</summary>
public static class CudaGemmBench
{
    private const int Warmup = 3, Repetitions = 20;

    public static IReadOnlyList<GemmRate> Run(int ordinal = 0)
    {
        var rates = new List<GemmRate>();
        foreach (var (m, n, k) in new[] { (4096, 4096, 4096), (8192, 4096, 1024) })
        {
            foreach (var precision in new[] { GemmPrecision.F32, GemmPrecision.Tf32, GemmPrecision.Bf16 })
            {
                using var device = new CudaDevice(ordinal, new CudaDeviceOptions { AllowTf32 = precision == GemmPrecision.Tf32 });
                rates.Add(Measure(device, precision, m, n, k));
            }
        }
        return rates;
    }

    private static GemmRate Measure(CudaDevice device, GemmPrecision precision, int m, int n, int k)
    {
        var type = precision == GemmPrecision.Bf16 ? ElementType.BF16 : ElementType.F32;
        using var a = device.Allocate(type, [m, k]);
        using var b = device.Allocate(type, [k, n]);
        using var c = device.Allocate(type, [m, n]);
        CudaElementwise.Fill(a, 0.01f);
        CudaElementwise.Fill(b, 0.02f);
        for (var i = 0; i < Warmup; i++) CudaLinear.MatMul(a, false, b, false, c);
        using var start = device.CreateEvent();
        using var end = device.CreateEvent();
        start.Record(device.Stream);
        for (var i = 0; i < Repetitions; i++) CudaLinear.MatMul(a, false, b, false, c);
        end.Record(device.Stream);
        end.Synchronize();
        var ms = CudaEvent.ElapsedMilliseconds(start, end) / Repetitions;
        var name = precision switch { GemmPrecision.F32 => "f32", GemmPrecision.Tf32 => "tf32", _ => "bf16" };
        return new GemmRate(name, m, n, k, ms, 2.0 * m * n * k / (ms * 1e-3) / 1e12);
    }
}
