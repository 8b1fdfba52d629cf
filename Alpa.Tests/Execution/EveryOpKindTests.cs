using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;
using Alpa.Silo.Selftest;

namespace Alpa.Tests.Execution;

/// <summary>
/// Every op kind as a single-node graph (the self-test's cases) through the executor: output shape,
/// dtype, finite values, memory accounted. Values against the float64 reference: Selftest tests.
/// </summary>
public sealed class EveryOpKindTests
{
    public static IEnumerable<object[]> AllOpKinds() => Enum.GetValues<OpKind>().Select(k => new object[] { k });

    [Theory]
    [MemberData(nameof(AllOpKinds))]
    public void EveryOpKindRunsThroughTheExecutor(OpKind op)
    {
        var c = SelftestCases.Build(op, SelftestPrecision.F32);
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(c.Graph, device);
        var r = exec.Run(c.Inputs);
        var output = r.Outputs[c.Node.Name];
        Assert.Equal(c.Node.Shape.ToArray(), output.Shape);
        Assert.Equal(c.Node.DType == DType.I32, output.Ints is not null);
        if (output.Floats is { } f) Assert.All(f, v => Assert.True(float.IsFinite(v), $"{op} produced {v}"));
        Assert.True(r.PeakLiveBytes > 0);
    }
}
