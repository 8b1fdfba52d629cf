using Alpa.Kernels;
using Alpa.Planner.Graph;
using Alpa.Silo.Training;

namespace Alpa.Tests.Training;

public sealed class SyntheticDataTests
{
    private static Graph LanguageGraph()
    {
        var b = new GraphBuilder();
        var table = b.Parameter("wte", new Shape(16, 8));
        var tokens = b.Input("tokens", new Shape(4, 6), DType.I32);
        var labels = b.Input("labels", new Shape(4, 6), DType.I32);
        var h = b.Embedding(table, tokens);
        var logits = b.MatMul(h, table, transB: true);
        var loss = b.CrossEntropy(logits, labels);
        return b.Build([loss], loss);
    }

    [Fact]
    public void BatchesArePureFunctionsOfSeedSplitAndStep()
    {
        var g = LanguageGraph();
        var a = new SyntheticData(g, seed: 7).Batch(3);
        var b = new SyntheticData(g, seed: 7).Batch(3);
        Assert.Equal(a["tokens"].Ints, b["tokens"].Ints);
        Assert.Equal(a["labels"].Ints, b["labels"].Ints);
        Assert.NotEqual(a["tokens"].Ints, new SyntheticData(g, seed: 7).Batch(4)["tokens"].Ints);
        Assert.NotEqual(a["tokens"].Ints, new SyntheticData(g, seed: 7).Batch(3, DataSplit.Eval)["tokens"].Ints);
    }

    [Fact]
    public void LanguageLabelsAreNextTokensOfAFixedBigramChain()
    {
        var data = new SyntheticData(LanguageGraph(), seed: 1);
        var successors = new Dictionary<int, HashSet<int>>();
        for (var step = 0; step < 20; step++)
        {
            var batch = data.Batch(step);
            var t = batch["tokens"].Ints!;
            var l = batch["labels"].Ints!;
            for (var i = 0; i < t.Length; i++)
            {
                Assert.InRange(t[i], 0, 15);
                if (i % 6 != 5) Assert.Equal(l[i], t[i + 1]);
                if (!successors.TryGetValue(t[i], out var set)) successors[t[i]] = set = [];
                set.Add(l[i]);
            }
        }
        Assert.All(successors.Values, s => Assert.InRange(s.Count, 1, 2));
    }

    [Fact]
    public void ScheduleWarmsUpThenDecaysToItsFloor()
    {
        var s = new LearningRateSchedule { Peak = 1.0, WarmupSteps = 4, TotalSteps = 20, FloorRatio = 0.1 };
        Assert.Equal(0.25, s.At(0), 12);
        Assert.Equal(1.0, s.At(4), 12);
        Assert.True(s.At(10) < s.At(5));
        Assert.Equal(0.1, s.At(20), 12);
        Assert.Equal(0.1, s.At(500), 12);
    }
}
