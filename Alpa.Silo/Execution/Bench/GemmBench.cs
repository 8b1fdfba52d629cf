using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using System.Text;
using System.Text.Json;
using Alpa.Kernels.Cpu;
using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Silo.Execution.Bench;

/// <summary>
/// GEMM benchmark (issue 3): the products the models run (GPT MLP/QKV products for hidden
/// 256–1024 over 2048 tokens, forward and both backward forms; batched per-head attention
/// products with transposed operands) through our layer, a square reference GEMM through
/// <c>cblas_sgemm</c> directly with 1 thread and all cores, and the measured FMA peak.
/// </summary>
public static class GemmBench
{
    private const int Tokens = 2048, HeadDim = 64, Seq = 256;

    public static GemmBenchResult Run(GemmBenchOptions? options = null)
    {
        options ??= new GemmBenchOptions();
        if (options.Repetitions < 1) throw new ExecutionException($"repetitions must be ≥ 1, got {options.Repetitions}");
        var cores = Environment.ProcessorCount;
        var cases = new List<GemmBenchCase>();
        var loadBefore = LoadAverage();
        var saved = CpuBlas.Threads;
        try
        {
            var r = options.ReferenceSize;
            foreach (var threads in new[] { 1, cores }.Distinct())
            {
                CpuBlas.SetThreads(threads);
                cases.Add(Direct($"square {r}³", r, threads, options.Repetitions));
            }
            CpuBlas.SetThreads(cores);
            cases.Add(Layer($"square {r}³", 1, r, r, r, false, false, options.Repetitions));
            foreach (var h in new[] { 256, 512, 1024 })
            {
                cases.Add(Layer($"gpt h={h} qkv", 1, Tokens, 3 * h, h, false, false, options.Repetitions));
                cases.Add(Layer($"gpt h={h} mlp fc1", 1, Tokens, 4 * h, h, false, false, options.Repetitions));
                cases.Add(Layer($"gpt h={h} mlp fc2", 1, Tokens, h, 4 * h, false, false, options.Repetitions));
                cases.Add(Layer($"gpt h={h} fc1 dW = xᵀ·dy", 1, h, 4 * h, Tokens, true, false, options.Repetitions));
                cases.Add(Layer($"gpt h={h} fc1 dx = dy·Wᵀ", 1, Tokens, h, 4 * h, false, true, options.Repetitions));
                var heads = Tokens / Seq * (h / HeadDim);
                cases.Add(Layer($"gpt h={h} attn q·kᵀ", heads, Seq, Seq, HeadDim, false, true, options.Repetitions));
                cases.Add(Layer($"gpt h={h} attn p·v", heads, Seq, HeadDim, Seq, false, false, options.Repetitions));
                cases.Add(Layer($"gpt h={h} attn dV = pᵀ·dctx", heads, Seq, HeadDim, Seq, true, false, options.Repetitions));
            }
        }
        finally
        {
            CpuBlas.SetThreads(saved);
        }
        var result = new GemmBenchResult
        {
            Command = options.Command,
            Date = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            Machine = CpuInfo.Report(),
            FmaPeakGFlops = FmaPeak(cores),
            LoadAverage = $"before: {loadBefore}; after: {LoadAverage()}",
            Cases = cases,
        };
        return options.WriteFiles ? Write(result, options.OutputDirectory) : result;
    }

    private static unsafe GemmBenchCase Direct(string name, int n, int threads, int reps)
    {
        var a = Fill(n * n); var b = Fill(n * n); var c = new float[n * n];
        var best = Time(reps, () =>
        {
            fixed (float* pa = a, pb = b, pc = c) CpuBlas.Sgemm(false, false, n, n, n, 1f, pa, n, pb, n, 0f, pc, n);
        });
        return Case(name, "cblas", 1, n, n, n, false, false, threads, best);
    }

    private static GemmBenchCase Layer(string name, int batch, int m, int n, int k, bool transA, bool transB, int reps)
    {
        long[] aShape = transA ? [batch, k, m] : [batch, m, k];
        long[] bShape = transB ? [batch, n, k] : [batch, k, n];
        var a = Fill(batch * m * k); var b = Fill(batch * k * n); var c = new float[batch * m * n];
        var best = Time(reps, () => Linear.MatMul(a, aShape, transA, b, bShape, transB, c));
        return Case(name, "layer", batch, m, n, k, transA, transB, CpuBlas.Threads, best);
    }

    private static GemmBenchCase Case(string name, string path, int batch, int m, int n, int k, bool ta, bool tb, int threads, double s) => new()
    {
        Name = name, Path = path, Batch = batch, M = m, N = n, K = k, TransA = ta, TransB = tb, Threads = threads,
        Seconds = s, GFlops = 2.0 * batch * m * n * k / s / 1e9,
    };

    private static double Time(int reps, Action body)
    {
        body();
        var best = double.MaxValue;
        for (var i = 0; i < reps; i++)
        {
            var t = Stopwatch.GetTimestamp();
            body();
            best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        return best;
    }

    private static string LoadAverage() => Benchmarks.BenchMachine.LoadAverage();

    private static float[] Fill(int n)
    {
        var a = new float[n];
        for (var i = 0; i < n; i++) a[i] = (i * 7919 % 1000) / 1000f - 0.5f;
        return a;
    }

    /// <summary>Independent FMA chains on every core: the arithmetic ceiling GEMM is compared to.</summary>
    private static double FmaPeak(int cores)
    {
        const int iterations = 20_000_000;
        var width = Vector512.IsHardwareAccelerated ? 16 : 8;
        var best = 0.0;
        for (var rep = 0; rep < 3; rep++)
        {
            var t = Stopwatch.GetTimestamp();
            Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, _ => FmaChains(iterations));
            var s = Stopwatch.GetElapsedTime(t).TotalSeconds;
            best = Math.Max(best, 2.0 * 12 * width * (double)iterations * cores / s / 1e9);
        }
        return best;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains(int iterations)
    {
        if (!Vector512.IsHardwareAccelerated) return FmaChains256(iterations);
        var m = Vector512.Create(0.999999f); var add = Vector512.Create(1e-7f);
        Vector512<float> a0 = add, a1 = add, a2 = add, a3 = add, a4 = add, a5 = add, a6 = add, a7 = add, a8 = add, a9 = add, a10 = add, a11 = add;
        for (var i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, add); a1 = Vector512.FusedMultiplyAdd(a1, m, add);
            a2 = Vector512.FusedMultiplyAdd(a2, m, add); a3 = Vector512.FusedMultiplyAdd(a3, m, add);
            a4 = Vector512.FusedMultiplyAdd(a4, m, add); a5 = Vector512.FusedMultiplyAdd(a5, m, add);
            a6 = Vector512.FusedMultiplyAdd(a6, m, add); a7 = Vector512.FusedMultiplyAdd(a7, m, add);
            a8 = Vector512.FusedMultiplyAdd(a8, m, add); a9 = Vector512.FusedMultiplyAdd(a9, m, add);
            a10 = Vector512.FusedMultiplyAdd(a10, m, add); a11 = Vector512.FusedMultiplyAdd(a11, m, add);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static float FmaChains256(int iterations)
    {
        var m = Vector256.Create(0.999999f); var add = Vector256.Create(1e-7f);
        Vector256<float> a0 = add, a1 = add, a2 = add, a3 = add, a4 = add, a5 = add, a6 = add, a7 = add, a8 = add, a9 = add, a10 = add, a11 = add;
        for (var i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, add); a1 = Vector256.FusedMultiplyAdd(a1, m, add);
            a2 = Vector256.FusedMultiplyAdd(a2, m, add); a3 = Vector256.FusedMultiplyAdd(a3, m, add);
            a4 = Vector256.FusedMultiplyAdd(a4, m, add); a5 = Vector256.FusedMultiplyAdd(a5, m, add);
            a6 = Vector256.FusedMultiplyAdd(a6, m, add); a7 = Vector256.FusedMultiplyAdd(a7, m, add);
            a8 = Vector256.FusedMultiplyAdd(a8, m, add); a9 = Vector256.FusedMultiplyAdd(a9, m, add);
            a10 = Vector256.FusedMultiplyAdd(a10, m, add); a11 = Vector256.FusedMultiplyAdd(a11, m, add);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    private static GemmBenchResult Write(GemmBenchResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        var md = Path.Combine(directory, "gemm.md");
        var json = Path.Combine(directory, "gemm.json");
        result = result with { MarkdownPath = md, JsonPath = json };
        File.WriteAllText(json, JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        File.WriteAllText(md, Markdown(result));
        return result;
    }

    public static string Markdown(GemmBenchResult r)
    {
        var m = r.Machine;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine("# GEMM benchmark (CPU, f32)").AppendLine();
        sb.AppendLine(inv, $"- command: `{r.Command}`");
        sb.AppendLine(inv, $"- date: {r.Date}");
        sb.AppendLine(inv, $"- machine: {m.Model}, {m.Cores} cores, AVX-512: {(m.HasAvx512 ? "yes" : "no")}, .NET SIMD width {m.SimdBits} bits");
        sb.AppendLine(inv, $"- OpenBLAS: core `{m.OpenBlasCore}` (OPENBLAS_CORETYPE={m.OpenBlasCoreType ?? "unset"}), config `{m.OpenBlasConfig}`");
        sb.AppendLine(inv, $"- measured FMA peak (all cores): {r.FmaPeakGFlops:F0} GFLOP/s");
        sb.AppendLine(inv, $"- load average (1, 5, 15 min) {r.LoadAverage}: a load above the core count means other processes shared the cores and every number is low");
        if (m.Warning is not null) sb.AppendLine(inv, $"- warning: {m.Warning}");
        sb.AppendLine().AppendLine("| case | path | batch | m | n | k | transA | transB | threads | ms | GFLOP/s | % of FMA peak of its threads |");
        sb.AppendLine("|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|---:|");
        foreach (var c in r.Cases)
            sb.AppendLine(inv, $"| {c.Name} | {c.Path} | {c.Batch} | {c.M} | {c.N} | {c.K} | {c.TransA} | {c.TransB} | {c.Threads} | {c.Seconds * 1e3:F2} | {c.GFlops:F0} | {100 * c.GFlops / (r.FmaPeakGFlops * c.Threads / m.Cores):F0}% |");
        return sb.ToString();
    }
}
