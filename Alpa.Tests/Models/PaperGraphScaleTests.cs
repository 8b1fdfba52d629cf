using System.Diagnostics;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Xunit.Abstractions;

namespace Alpa.Tests.Models;

public sealed class PaperGraphScaleTests(ITestOutputHelper output)
{
    [Fact]
    public void Gpt39bTrainingGraphIsSymbolicAndSmall()
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        var model = ModelZoo.Get("gpt-39b").Build();
        var training = TrainingGraph.Build(model, new TrainingOptions { Remat = true, ClipNorm = 1.0 });
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"gpt-39b training graph: {training.Nodes.Count} nodes, {clock.Elapsed.TotalMilliseconds:F0} ms, {allocated / (1 << 20)} MiB allocated");
        Assert.True(allocated < 1L << 30, $"building allocated {allocated / (1 << 20)} MiB");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"building took {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(39_087_652_864, training.ParameterCount);
    }
}
