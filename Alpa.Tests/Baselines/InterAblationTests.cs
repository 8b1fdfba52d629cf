using Alpa.Planner.Baselines;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;

namespace Alpa.Tests.Baselines;

public sealed class InterAblationTests
{
    [Fact]
    public void EqualOperatorStagesAreContiguousNonEmptyAndBalanced()
    {
        Assert.Equal([(0, 2), (3, 3)], InterAblation.EqualOperatorStages([1, 1, 1, 9], 2));
        Assert.Equal([(0, 1), (2, 3)], InterAblation.EqualOperatorStages([5, 5, 5, 5], 2));
        var rng = new Random(10);
        for (var trial = 0; trial < 200; trial++)
        {
            var ops = Enumerable.Range(0, rng.Next(1, 12)).Select(_ => rng.Next(0, 20)).ToArray();
            var stages = rng.Next(1, ops.Length + 1);
            var ranges = InterAblation.EqualOperatorStages(ops, stages);
            Assert.Equal(stages, ranges.Count);
            Assert.Equal(0, ranges[0].First);
            Assert.Equal(ops.Length - 1, ranges[^1].Last);
            for (var s = 0; s < stages; s++)
            {
                Assert.True(ranges[s].Last >= ranges[s].First);
                if (s > 0) Assert.Equal(ranges[s - 1].Last + 1, ranges[s].First);
            }
            // Each cut is the best place for its share among the places the earlier cuts leave.
            var prefix = new long[ops.Length + 1];
            for (var l = 0; l < ops.Length; l++) prefix[l + 1] = prefix[l] + ops[l];
            for (var k = 1; k < stages; k++)
            {
                var target = (double)prefix[^1] * k / stages;
                var chosen = Math.Abs(prefix[ranges[k].First] - target);
                for (var e = ranges[k - 1].First + 1; e <= ops.Length - (stages - k); e++)
                    Assert.True(chosen <= Math.Abs(prefix[e] - target) + 1e-9, $"ops [{string.Join(",", ops)}] S={stages} cut {k}");
            }
        }
    }

    [Fact]
    public void EachRulePlansOnlyItsStagesAndTheDpIsNotWorse()
    {
        var model = ModelZoo.Get("gpt-tiny");
        var cluster = BuiltInClusters.P3(2, 2);
        var options = new BaselineOptions { MaxMicrobatches = 8 };
        var dp = InterAblation.Plan(StageRule.Dp, model, cluster, options).Result!.Plan;
        var layers = InterAblation.Plan(StageRule.EqualLayers, model, cluster, options).Result!.Plan;
        var ops = InterAblation.Plan(StageRule.EqualOperators, model, cluster, options).Result!.Plan;
        var blocks = model.LayerCount - 2;
        Assert.Equal(BaselineGrid.EqualStages(blocks, layers.Stages.Count), layers.Stages.Select(s => (s.FirstLayer, s.LastLayer)));
        var opCounts = InterAblation.OperatorsPerLayer(model.Build(), model.LayerCount);
        Assert.Equal(InterAblation.EqualOperatorStages(opCounts, ops.Stages.Count), ops.Stages.Select(s => (s.FirstLayer, s.LastLayer)));
        Assert.True(dp.DpObjectiveSeconds <= Math.Min(layers.DpObjectiveSeconds, ops.DpObjectiveSeconds) * (1 + 1e-9),
            $"DP {dp.DpObjectiveSeconds} vs equal layers {layers.DpObjectiveSeconds}, equal operators {ops.DpObjectiveSeconds}");
    }
}
