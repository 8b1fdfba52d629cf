using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;
using Alpa.Tests.Reference;

namespace Alpa.Tests.Execution;

/// <summary>
/// Every op kind as a single-node graph through the CPU executor (f32) against the float64
/// reference evaluator: relative norm error ≤ 1e-5, except Cast to a half type (the CPU rounds the
/// values to bf16/f16 precision, the oracle keeps them: ≤ 2⁻⁸).
/// </summary>
public sealed class ExecutorVsReferenceTests
{
    [Theory]
    [MemberData(nameof(SingleNodeGraphs.AllOpKinds), MemberType = typeof(SingleNodeGraphs))]
    public void SingleNodeGraphMatchesTheFloat64Reference(OpKind op)
    {
        var c = SingleNodeGraphs.Build(op, seed: 5);
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(c.Graph, device, new ExecutorOptions { Seed = 9 });
        var leaves = c.Inputs.ToDictionary(kv => kv.Key, kv => ToRef(kv.Value));
        foreach (var p in c.Graph.Parameters) leaves[p.Name] = ToRef(exec.Read(p.Name));
        var expected = ReferenceEvaluator.Evaluate(c.Graph, leaves)[c.Node];
        var actual = exec.Run(c.Inputs).Outputs[c.Node.Name];
        var values = actual.Floats ?? [.. actual.Ints!.Select(i => (float)i)];
        var tolerance = op == OpKind.Cast && c.Node.DType is DType.BF16 or DType.F16 ? 1.0 / 256 : 1e-5;
        Kernels.Ref.Close(values, expected.Data, tolerance, $"{op}");
    }

    private static RefTensor ToRef(HostTensor t) =>
        new(new Shape(t.Shape), t.Floats is { } f ? [.. f.Select(v => (double)v)] : [.. t.Ints!.Select(v => (double)v)]);
}
