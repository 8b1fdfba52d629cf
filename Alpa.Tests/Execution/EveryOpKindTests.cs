using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;

namespace Alpa.Tests.Execution;

public sealed class EveryOpKindTests
{
    [Theory]
    [MemberData(nameof(SingleNodeGraphs.AllOpKinds), MemberType = typeof(SingleNodeGraphs))]
    public void EveryOpKindRunsThroughTheExecutor(OpKind op)
    {
        var c = SingleNodeGraphs.Build(op);
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
