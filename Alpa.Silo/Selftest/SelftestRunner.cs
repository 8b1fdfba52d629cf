using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Kernels.Cuda;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Silo.Selftest.Reference;

namespace Alpa.Silo.Selftest;

/// <summary>The backend a self-test runs on.</summary>
public enum SelftestBackend
{
    Cpu,
    Cuda,
}

/// <summary>Outcome of one case.</summary>
public sealed record SelftestResult
{
    /// <summary>Case id, e.g. <c>LayerNorm/bf16</c>.</summary>
    public required string Name { get; init; }
    public required OpKind Op { get; init; }
    public required SelftestPrecision Precision { get; init; }
    /// <summary>True when the relative error is within <see cref="Tolerance"/> and the op ran.</summary>
    public required bool Passed { get; init; }
    /// <summary>‖actual − reference‖ / ‖reference‖ (absolute norm when the reference is zero); NaN when the op failed.</summary>
    public required double Error { get; init; }
    public required double Tolerance { get; init; }
    /// <summary>Why the op failed to run, else null.</summary>
    public string? Message { get; init; }
}

/// <summary>Outcome of a whole self-test.</summary>
public sealed record SelftestReport
{
    public required SelftestBackend Backend { get; init; }
    /// <summary>The device the cases ran on, e.g. <c>cuda:0 (NVIDIA H100 80GB HBM3, sm_90)</c>.</summary>
    public required string Device { get; init; }
    public required IReadOnlyList<SelftestResult> Results { get; init; }
    public required double Seconds { get; init; }
    public int Failed => Results.Count(r => !r.Passed);
    public bool Passed => Failed == 0;
}

/// <summary>
/// Runs the kernel test cases of <see cref="SelftestCases"/> on a backend and compares each op's
/// output with the float64 <see cref="ReferenceEvaluator"/>. Shipped in the <c>alpa</c>
/// executable, so that a machine without the .NET SDK can check its kernels.
/// </summary>
public static class SelftestRunner
{
    /// <summary>Why the CUDA backend cannot run here (no driver, no device), or null when it can.</summary>
    public static string? CudaUnavailableReason()
    {
        try
        {
            return CudaDevice.Count() > 0 ? null : "no CUDA device found: the driver (libcuda.so.1) is installed but reports no GPU";
        }
        catch (NativeLibraryException e)
        {
            return e.Message;
        }
        catch (CudaException e)
        {
            return $"the CUDA driver failed to initialize: {e.Message}";
        }
    }

    /// <summary>Runs every case (or those whose name <paramref name="filter"/> accepts).</summary>
    public static SelftestReport Run(SelftestBackend backend, Func<string, bool>? filter = null, Action<SelftestResult>? progress = null)
    {
        var start = Stopwatch.GetTimestamp();
        using var engine = SelftestEngine.Create(backend);
        var results = new List<SelftestResult>();
        foreach (var (op, precision) in SelftestCases.All())
        {
            if (filter is not null && !filter(SelftestCases.NameOf(op, precision))) continue;
            var r = RunCase(engine, SelftestCases.Build(op, precision));
            progress?.Invoke(r);
            results.Add(r);
        }
        return new SelftestReport { Backend = backend, Device = engine.DeviceName, Results = results, Seconds = Stopwatch.GetElapsedTime(start).TotalSeconds };
    }

    /// <summary>Runs one case on an engine and compares it with the reference.</summary>
    public static SelftestResult RunCase(SelftestEngine engine, SelftestCase c)
    {
        try
        {
            var (output, parameters) = engine.Evaluate(c);
            var leaves = c.Inputs.ToDictionary(kv => kv.Key, kv => ToRef(kv.Value));
            foreach (var (name, value) in parameters) leaves[name] = ToRef(value);
            var expected = ReferenceEvaluator.Evaluate(c.Graph, leaves)[c.Node].Data;
            var actual = output.Floats ?? [.. output.Ints!.Select(i => (float)i)];
            var error = RelativeError(actual, expected);
            return new SelftestResult { Name = c.Name, Op = c.Op, Precision = c.Precision, Passed = error <= c.Tolerance, Error = error, Tolerance = c.Tolerance };
        }
        catch (Exception e) when (e is KernelException or AlpaException or ArgumentException or InvalidOperationException)
        {
            return new SelftestResult
            {
                Name = c.Name, Op = c.Op, Precision = c.Precision, Passed = false, Error = double.NaN, Tolerance = c.Tolerance,
                Message = $"{e.GetType().Name}: {e.Message}",
            };
        }
    }

    /// <summary>‖a − e‖ / ‖e‖, or ‖a − e‖ when e is zero; ∞ when the lengths differ.</summary>
    public static double RelativeError(ReadOnlySpan<float> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double num = 0, den = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var d = actual[i] - expected[i];
            num += d * d;
            den += expected[i] * expected[i];
        }
        var e = den == 0 ? Math.Sqrt(num) : Math.Sqrt(num / den);
        return double.IsNaN(e) ? double.PositiveInfinity : e;
    }

    private static RefTensor ToRef(HostTensor t) =>
        new(new Shape(t.Shape), t.Floats is { } f ? [.. f.Select(v => (double)v)] : [.. t.Ints!.Select(v => (double)v)]);
}
