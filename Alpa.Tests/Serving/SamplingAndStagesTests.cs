using Alpa.Planner.Inference;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

public sealed class SamplingAndStagesTests
{
    private static readonly float[] Logits = [0.1f, 2.5f, -1f, 2.4f, 0.3f, 1.9f];

    [Fact]
    public void SamplingFollowsItsOptions()
    {
        Assert.Equal(1, new Sampler(new SamplingOptions { Temperature = 0 }).Next(Logits));
        Assert.Equal(1, new Sampler(new SamplingOptions { Temperature = 1, TopK = 1, Seed = 9 }).Next(Logits));
        Assert.Equal(1, new Sampler(new SamplingOptions { Temperature = 1, TopP = 0.01, Seed = 9 }).Next(Logits));
        var topTwo = Enumerable.Range(0, 400).Select(i => new Sampler(new SamplingOptions { Temperature = 1, TopK = 2, Seed = (ulong)i }).Next(Logits)).ToHashSet();
        Assert.Equal([1, 3], topTwo.Order());
        var all = Enumerable.Range(0, 2000).Select(i => new Sampler(new SamplingOptions { Temperature = 2, Seed = (ulong)i }).Next(Logits)).ToHashSet();
        Assert.Equal(Logits.Length, all.Count);
        var a = new Sampler(new SamplingOptions { Seed = 77 });
        var b = new Sampler(new SamplingOptions { Seed = 77 });
        Assert.Equal(Enumerable.Range(0, 50).Select(_ => a.Next(Logits)), Enumerable.Range(0, 50).Select(_ => b.Next(Logits)));
    }

    [Fact]
    public void StopMatcherHoldsBackPrefixesAndCutsAtTheStop()
    {
        var m = new StopMatcher(["END"]);
        Assert.Equal("ab", m.Push("abE", out var hit));
        Assert.False(hit);
        Assert.Equal("", m.Push("N", out hit));
        Assert.False(hit);
        Assert.Equal("", m.Push("Dx", out hit));
        Assert.True(hit);
        Assert.Equal("", m.Flush());
        var k = new StopMatcher(["##"]);
        Assert.Equal("a", k.Push("a#", out _));
        Assert.Equal("#b", k.Push("b#", out _));
        Assert.Equal("#x", k.Push("x", out _));
        var n = new StopMatcher(["END"]);
        Assert.Equal("abE", n.Push("abE", out _) + n.Flush());
    }

    [Fact]
    public void StageDpMatchesBruteForceOnRandomInstances()
    {
        var random = new Random(7);
        for (var trial = 0; trial < 150; trial++)
        {
            var layers = random.Next(1, 7);
            var devices = 1 << random.Next(0, 3);
            var objective = trial % 2 == 0 ? InferenceObjective.Throughput : InferenceObjective.Latency;
            var perLayer = Enumerable.Range(0, layers).Select(_ => random.NextDouble() + 0.1).ToArray();
            var overhead = random.NextDouble() * 0.3;
            double Cost(int first, int last, int s) => (perLayer[first..(last + 1)].Sum() / Math.Pow(s, 0.8)) + (s > 1 ? overhead : 0);
            var options = new InferenceStageOptions { Layers = layers, Devices = devices, Objective = objective };
            var dp = InferenceStages.Plan(options, Cost);
            var brute = Brute(0, devices, layers, objective, Cost);
            Assert.Equal(brute, dp.ObjectiveSeconds, 9);
            Assert.Equal(devices, dp.Stages.Sum(s => s.Devices));
            Assert.Equal(layers - 1, dp.Stages[^1].Last);
        }
    }

    private static double Brute(int k, int d, int layers, InferenceObjective objective, Func<int, int, int, double> cost)
    {
        if (k == layers) return d == 0 ? 0 : double.PositiveInfinity;
        var best = double.PositiveInfinity;
        for (var j = k; j < layers; j++)
            for (var s = 1; s <= d; s *= 2)
            {
                var rest = Brute(j + 1, d - s, layers, objective, cost);
                var t = cost(k, j, s);
                best = Math.Min(best, objective == InferenceObjective.Throughput ? Math.Max(t, rest) : t + rest);
            }
        return best;
    }

    [Fact]
    public void ImpossibleCutsAreRefusedWithTheReason()
    {
        var e = Assert.Throws<Alpa.Planner.AlpaException>(() => InferenceStages.Plan(new InferenceStageOptions { Layers = 2, Devices = 4, Stages = 3 }, (_, _, _) => 1));
        Assert.Contains("no way to cut 2 layers into 3 stage(s)", e.Message, StringComparison.Ordinal);
    }
}
