using System.Diagnostics;
using Alpa.Planner.Intra;
using Xunit.Abstractions;

namespace Alpa.Tests.Intra;

public sealed class IntraBenchTests(ITestOutputHelper output)
{
    /// <summary>The GPT-39B 6-layer slice plans on every 8-device mesh shape, each proven optimal.</summary>
    [Fact]
    public void Gpt39BSlicePlansOnEveryShape()
    {
        var graph = IntraBench.Gpt39BSlice();
        var rows = IntraBench.Run(a => { var sw = Stopwatch.StartNew(); a(); return sw.Elapsed.TotalSeconds; }, graph);
        output.WriteLine(IntraBench.Markdown(graph, rows));
        Assert.Equal(4, rows.Count);
        Assert.All(rows, r => Assert.True(r.Result.Stats.ProvenOptimal));
        Assert.All(rows, r => Assert.Equal(graph.Nodes.Count(n => Alpa.Planner.Graph.OpCosts.IsMatmulClass(n.Op)), r.Result.Strategies.Count));
    }
}
