using System.Globalization;
using System.Text.Json;
using Alpa.Kernels;
using Alpa.Kernels.Cuda;
using Alpa.Silo.Selftest;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa selftest [--backend cpu|cuda] [--only TEXT] [--bench] [--json]</c>: every op of the IR
/// against the float64 reference (f32 ≤ 1e-5, bf16 ≤ 1e-2 relative error) on one backend; with
/// <c>--bench</c> on CUDA, also the cuBLAS GEMM rates. Exit code 0 when every case passes.
/// </summary>
internal sealed class SelftestCommand : ICommand
{
    public string Name => "selftest";
    public string Summary => "kernel self-test: every op against a float64 reference on the CPU or CUDA backend";
    public string Usage => "alpa selftest [--backend cpu|cuda] [--only TEXT] [--bench] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("backend", "B", "cpu (default) or cuda"),
        new("only", "TEXT", "run only the cases whose name contains TEXT (e.g. Softmax, bf16)"),
        new("bench", null, "cuda: also measure cuBLAS GEMM throughput (f32, tf32, bf16)"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var backend = (args.Value("backend") ?? "cpu") switch
        {
            "cpu" => SelftestBackend.Cpu,
            "cuda" => SelftestBackend.Cuda,
            var other => throw new UsageException($"unknown backend '{other}': use cpu or cuda"),
        };
        if (backend == SelftestBackend.Cuda && SelftestRunner.CudaUnavailableReason() is { } reason)
        {
            if (context.Json) context.WriteJson(w => WriteUnavailable(w, reason));
            context.Err.WriteLine($"alpa selftest --backend cuda: {reason}");
            return CliApp.Failed;
        }
        var only = args.Value("only");
        Func<string, bool>? filter = only is null ? null : name => name.Contains(only, StringComparison.OrdinalIgnoreCase);
        SelftestReport report;
        IReadOnlyList<GemmRate>? bench;
        IReadOnlyList<CollectiveResult>? collectives = null;
        try
        {
            report = SelftestRunner.Run(backend, filter, r => { if (!context.Json && !r.Passed) context.Err.WriteLine($"FAIL {r.Name}: {Describe(r)}"); });
            bench = backend == SelftestBackend.Cuda && args.Has("bench") ? CudaGemmBench.Run() : null;
            if (backend == SelftestBackend.Cuda && only is null)
            {
                using var device = new CudaDevice();
                collectives = NcclSelftest.Run(device);
            }
        }
        catch (KernelException e) when (backend == SelftestBackend.Cuda)
        {
            if (context.Json) context.WriteJson(w => WriteUnavailable(w, e.Message));
            context.Err.WriteLine($"alpa selftest --backend cuda: {e.Message}");
            return CliApp.Failed;
        }
        if (context.Json) context.WriteJson(w => WriteJson(w, report, bench, collectives));
        else WriteText(context.Out, report, bench, collectives);
        var collectivesOk = collectives is null || collectives.All(c => c.Passed || c.Skipped);
        return report.Passed && collectivesOk ? CliApp.Ok : CliApp.Failed;
    }

    private static string Describe(SelftestResult r) =>
        r.Message ?? $"relative error {r.Error.ToString("G3", CultureInfo.InvariantCulture)} > {r.Tolerance.ToString("G2", CultureInfo.InvariantCulture)}";

    private static void WriteText(TextWriter o, SelftestReport report, IReadOnlyList<GemmRate>? bench, IReadOnlyList<CollectiveResult>? collectives)
    {
        o.WriteLine($"selftest on {report.Device}: {report.Results.Count} cases");
        o.WriteLine($"{"case",-32} {"rel. error",12} {"tolerance",10}  result");
        foreach (var r in report.Results)
        {
            var error = double.IsNaN(r.Error) ? "-" : r.Error.ToString("0.00e+00", CultureInfo.InvariantCulture);
            o.WriteLine($"{r.Name,-32} {error,12} {r.Tolerance.ToString("0e+00", CultureInfo.InvariantCulture),10}  {(r.Passed ? "ok" : "FAIL " + (r.Message ?? ""))}");
        }
        foreach (var c in collectives ?? [])
            o.WriteLine($"{"nccl " + c.Name,-32} {"",12} {"",10}  {(c.Skipped ? "skipped: " : c.Passed ? "ok" : "FAIL ")}{c.Message}");
        if (bench is not null)
        {
            o.WriteLine();
            foreach (var g in bench) o.WriteLine($"gemm {g.Precision,-5} {g.M}x{g.N}x{g.K}: {g.Tflops.ToString("0.0", CultureInfo.InvariantCulture)} TFLOP/s");
        }
        o.WriteLine($"{report.Results.Count - report.Failed} passed, {report.Failed} failed in {report.Seconds.ToString("0.0", CultureInfo.InvariantCulture)} s");
    }

    private static void WriteUnavailable(Utf8JsonWriter w, string reason)
    {
        w.WriteStartObject();
        w.WriteString("backend", "cuda");
        w.WriteBoolean("available", false);
        w.WriteString("reason", reason);
        w.WriteEndObject();
    }

    private static void WriteJson(Utf8JsonWriter w, SelftestReport report, IReadOnlyList<GemmRate>? bench, IReadOnlyList<CollectiveResult>? collectives)
    {
        w.WriteStartObject();
        w.WriteString("backend", report.Backend == SelftestBackend.Cpu ? "cpu" : "cuda");
        w.WriteBoolean("available", true);
        w.WriteString("device", report.Device);
        w.WriteNumber("passed", report.Results.Count - report.Failed);
        w.WriteNumber("failed", report.Failed);
        w.WriteNumber("seconds", Math.Round(report.Seconds, 3));
        w.WriteStartArray("cases");
        foreach (var r in report.Results)
        {
            w.WriteStartObject();
            w.WriteString("name", r.Name);
            w.WriteString("op", r.Op.ToString());
            w.WriteString("precision", r.Precision == SelftestPrecision.F32 ? "f32" : "bf16");
            w.WriteBoolean("passed", r.Passed);
            if (double.IsFinite(r.Error)) w.WriteNumber("error", r.Error);
            else w.WriteNull("error");
            w.WriteNumber("tolerance", r.Tolerance);
            if (r.Message is not null) w.WriteString("message", r.Message);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (collectives is not null)
        {
            w.WriteStartArray("collectives");
            foreach (var c in collectives)
            {
                w.WriteStartObject();
                w.WriteString("name", c.Name);
                w.WriteBoolean("passed", c.Passed);
                w.WriteBoolean("skipped", c.Skipped);
                if (c.Message is not null) w.WriteString("message", c.Message);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (bench is not null)
        {
            w.WriteStartArray("gemm");
            foreach (var g in bench)
            {
                w.WriteStartObject();
                w.WriteString("precision", g.Precision);
                w.WriteNumber("m", g.M);
                w.WriteNumber("n", g.N);
                w.WriteNumber("k", g.K);
                w.WriteNumber("milliseconds", Math.Round(g.Milliseconds, 4));
                w.WriteNumber("tflops", Math.Round(g.Tflops, 2));
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}
