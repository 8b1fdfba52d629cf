using System.Text.Json;
using Alpa.Planner.Graph;
using Alpa.Silo.Cli;
using Alpa.Silo.Selftest;
using static Alpa.Tests.Cli.InProcessCli;

namespace Alpa.Tests.Selftest;

/// <summary>Runs only where a CUDA driver and GPU are present; elsewhere it is skipped at run time with the reason.</summary>
public sealed class CudaTheoryAttribute : TheoryAttribute
{
    public CudaTheoryAttribute()
    {
        if (SelftestRunner.CudaUnavailableReason() is { } reason) Skip = $"CUDA backend unavailable: {reason}";
    }
}

/// <summary>The cases of <c>alpa selftest</c>, run by xunit on every backend that is present.</summary>
public sealed class SelftestTests
{
    public static IEnumerable<object[]> Cases() => SelftestCases.All().Select(c => new object[] { c.Op, c.Precision });

    [Theory]
    [MemberData(nameof(Cases))]
    public void CpuBackendMatchesTheFloat64Reference(OpKind op, SelftestPrecision precision)
    {
        using var engine = new CpuSelftestEngine();
        var r = SelftestRunner.RunCase(engine, SelftestCases.Build(op, precision));
        Assert.True(r.Passed, $"{r.Name}: error {r.Error} > {r.Tolerance} {r.Message}");
    }

    [CudaTheory]
    [MemberData(nameof(Cases))]
    public void CudaBackendMatchesTheFloat64Reference(OpKind op, SelftestPrecision precision)
    {
        using var engine = new CudaSelftestEngine();
        var r = SelftestRunner.RunCase(engine, SelftestCases.Build(op, precision));
        Assert.True(r.Passed, $"{r.Name}: error {r.Error} > {r.Tolerance} {r.Message}");
    }

    [Fact]
    public void EveryOpKindHasAnF32CaseAndEveryComputeOpABf16Case()
    {
        var cases = SelftestCases.All().ToList();
        foreach (var op in Enum.GetValues<OpKind>())
        {
            Assert.Contains((op, SelftestPrecision.F32), cases);
            Assert.Equal(!SelftestCases.F32Only.Contains(op), cases.Contains((op, SelftestPrecision.BF16)));
        }
        Assert.Equal(cases.Count, cases.Select(c => SelftestCases.NameOf(c.Op, c.Precision)).Distinct().Count());
    }

    [Fact]
    public void Bf16CasesFeedValuesThatBf16HoldsExactly()
    {
        var c = SelftestCases.Build(OpKind.LayerNorm, SelftestPrecision.BF16);
        Assert.Equal(DType.BF16, c.Node.DType);
        Assert.Equal(1e-2, c.Tolerance);
        foreach (var v in c.Inputs["x"].Floats!)
            Assert.Equal(v, Alpa.Kernels.Cuda.CudaStorage.FromBf16(Alpa.Kernels.Cuda.CudaStorage.ToBf16(v)));
    }

    [Fact]
    public void RelativeErrorIsTheNormRatioAndFlagsNaN()
    {
        Assert.Equal(0.1, SelftestRunner.RelativeError([1.1f, 0f], [1.0, 0.0]), 6);
        Assert.Equal(0.5, SelftestRunner.RelativeError([0.5f], [0.0]), 6);
        Assert.Equal(double.PositiveInfinity, SelftestRunner.RelativeError([float.NaN], [1.0]));
        Assert.Equal(double.PositiveInfinity, SelftestRunner.RelativeError([1f], [1.0, 2.0]));
    }

    [Fact]
    public void SelftestCliRunsTheCpuCasesAsOneJsonDocument()
    {
        var (code, output, _) = Run("selftest", "--backend", "cpu", "--only", "Softmax", "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.Equal("cpu", root.GetProperty("backend").GetString());
        Assert.Equal(0, root.GetProperty("failed").GetInt32());
        var names = root.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
        Assert.Equal(["Softmax/f32", "Softmax/bf16", "SoftmaxGrad/f32", "SoftmaxGrad/bf16"], names);
    }

    [Fact]
    public void SelftestCliOnCudaRunsOrSaysWhyNot()
    {
        var (code, output, err) = Run("selftest", "--backend", "cuda", "--only", "Relu/f32");
        if (SelftestRunner.CudaUnavailableReason() is { } reason)
        {
            Assert.Equal(CliApp.Failed, code);
            Assert.Contains(reason, err);
            if (!File.Exists("/usr/lib/x86_64-linux-gnu/libcuda.so.1")) Assert.Contains("no CUDA driver found (libcuda.so.1)", err);
        }
        else
        {
            Assert.Equal(CliApp.Ok, code);
            Assert.Contains("1 passed, 0 failed", output);
        }
    }

    [Fact]
    public void UnknownBackendIsAUsageError()
    {
        var (code, _, err) = Run("selftest", "--backend", "tpu");
        Assert.Equal(CliApp.BadUsage, code);
        Assert.Contains("unknown backend 'tpu'", err);
    }

}
