using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Xunit.Abstractions;

namespace Alpa.Tests.Intra;

public sealed class DebugTmpTests(ITestOutputHelper output)
{
    [Fact]
    public void Dump()
    {
        var graph = BenchGraphs.GptSlice(layers: 2, batch: 16, seq: 576, hidden: 2048, heads: 16);
        var mesh = LogicalMesh.Create(BuiltInClusters.P3(2, 4), 2, 4);
        output.WriteLine($"axis0 {mesh.Axis0} axis1 {mesh.Axis1}");
        var pins = new Dictionary<string, IReadOnlyList<string>>();
        foreach (var n in new[] { "q", "k", "v" }) pins[$"layers.0.attn.{n}"] = ["S0", "R", "S1"];
        pins["layers.0.attn.out"] = ["S0", "R", "R"];
        foreach (var opts in new[] { new IntraOptions(), new IntraOptions { FixedSpecs = pins } })
        {
            var r = IntraOpPass.Run(graph, mesh, opts);
            output.WriteLine($"== {r.ObjectiveSeconds * 1e3:F3} ms compute {r.ComputeSeconds * 1e3:F3} comm {r.CommunicationSeconds * 1e3:F3}");
            foreach (var n in graph.Nodes.Where(n => n.Op == OpKind.MatMul && n.Phase == Phase.Forward))
            {
                var s = r.NodeStrategies[n.Name];
                output.WriteLine($"  {n.Name} {n.Op} {n.Shape}: {s.Id} c={s.ComputeSeconds * 1e6:F1} comm={s.CommSeconds * 1e6:F1}");
            }
        }
    }
}
