using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;

namespace Alpa.Tests.Inter;

public sealed class StageDpTests
{
    [Fact]
    public void SubmeshShapesFollowThePaper()
    {
        Assert.Equal([new(1, 1), new(1, 2), new(1, 4), new(1, 8), new(2, 8), new(3, 8), new(4, 8)], MeshShapes.Submeshes(4, 8));
        Assert.Equal([new(1, 1), new(1, 2), new(2, 2), new(4, 2)], MeshShapes.Submeshes(6, 2, SubmeshSpace.SmallPowerOfTwo));
        Assert.Equal([new(1, 4), new(2, 2), new(4, 1)], MeshShapes.LogicalMeshes(new SubmeshShape(1, 4)));
    }

    [Fact]
    public void DpEqualsBruteForceOnRandomInstances()
    {
        var rng = new Random(1234);
        var (binding, feasible, infeasible) = (0, 0, 0);
        for (var instance = 0; instance < 160; instance++)
        {
            var hosts = rng.Next(1, 3);
            var m = new[] { 1, 2, 4 }[rng.Next(3)];
            var layers = rng.Next(1, 5);
            var b = rng.Next(1, 5);
            var schedule = rng.Next(3) == 0 ? PipelineSchedule.GPipe : PipelineSchedule.OneFOneB;
            var submeshes = MeshShapes.Submeshes(hosts, m);
            var model = new TableCostModel(layers, submeshes, rng);
            var table = StageCostTable.Build(model, submeshes, LogicalMeshSpace.All, b);
            var unlimited = BruteForce.Best(table, hosts, m, long.MaxValue / 8, b, schedule);
            var mem = (long)(rng.Next(40, 400) * (rng.NextDouble() < 0.2 ? 10 : 1));
            var input = new StageDpInput(hosts, m, mem, b, schedule);
            var expected = BruteForce.Best(table, hosts, m, mem, b, schedule);
            var actual = StageDp.Solve(table, input);
            if (expected is null)
            {
                infeasible++;
                Assert.Null(actual);
                continue;
            }
            feasible++;
            if (unlimited is not null && unlimited.Value < expected.Value - 1e-9) binding++;
            Assert.NotNull(actual);
            Assert.Equal(expected.Value, actual.Objective, 9);
            Assert.Equal(actual.Objective, StageDp.Objective(table, actual.Stages, b), 12);
            CheckSolution(table, actual.Stages, hosts * m, layers, mem, b, schedule);
        }
        Assert.True(feasible >= 100, $"only {feasible} feasible instances");
        Assert.True(binding >= 10, $"memory was binding in only {binding} instances");
        Assert.True(infeasible >= 1, "no instance was infeasible");
    }

    private static void CheckSolution(StageCostTable table, IReadOnlyList<StageChoice> stages, int devices, int layers, long mem, int b, PipelineSchedule schedule)
    {
        Assert.Equal(0, stages[0].First);
        Assert.Equal(layers - 1, stages[^1].Last);
        for (var i = 1; i < stages.Count; i++) Assert.Equal(stages[i - 1].Last + 1, stages[i].First);
        Assert.Equal(devices, stages.Sum(s => table.Submeshes[s.Submesh].Count));
        for (var i = 0; i < stages.Count; i++)
        {
            var c = table[stages[i].First, stages[i].Last, stages[i].Submesh, stages[i].Mesh];
            var live = ScheduleOrder.LiveMicrobatches(schedule, i, stages.Count, b);
            Assert.True(c.ParameterBytes + (double)live * c.ActivationBytes <= mem);
        }
    }

    [Fact]
    public void EpsilonPrunesAndTheEarlyStopCuts()
    {
        var rng = new Random(7);
        var submeshes = MeshShapes.Submeshes(2, 4);
        var model = new TableCostModel(4, submeshes, rng, infeasibleShare: 0);
        var table = StageCostTable.Build(model, submeshes, LogicalMeshSpace.All, 4);
        var exact = StageDp.Solve(table, new StageDpInput(2, 4, long.MaxValue / 8, 4, PipelineSchedule.OneFOneB))!;
        Assert.True(exact.Report.TMaxCutByEarlyStop > 0);
        Assert.Equal(exact.Report.TMaxValues, exact.Report.TMaxEvaluated + exact.Report.TMaxCutByEarlyStop);
        var pruned = StageDp.Solve(table, new StageDpInput(2, 4, long.MaxValue / 8, 4, PipelineSchedule.OneFOneB, Epsilon: 0.5))!;
        Assert.True(pruned.Report.TMaxPrunedByEpsilon > 0);
        Assert.True(pruned.Objective >= exact.Objective - 1e-12);
    }

    [Fact]
    public void CostTableDoesNotDependOnParallelism()
    {
        var submeshes = MeshShapes.Submeshes(2, 4);
        var model = new TableCostModel(5, submeshes, new Random(3));
        var serial = StageCostTable.Build(model, submeshes, LogicalMeshSpace.All, 1, null, 1);
        var parallel = StageCostTable.Build(model, submeshes, LogicalMeshSpace.All, 1, null, 4);
        Assert.Equal(serial.Count, parallel.Count);
        Assert.Equal(2 * serial.Count, model.Evaluations);
        for (var i = 0; i < 5; i++)
            for (var j = i; j < 5; j++)
                for (var k = 0; k < submeshes.Count; k++)
                    for (var c = 0; c < serial.Meshes[k].Count; c++)
                        Assert.Same(serial[i, j, k, c], parallel[i, j, k, c]);
    }
}

/// <summary>Enumerates every slicing × submesh × logical mesh assignment that tiles the cluster.</summary>
internal static class BruteForce
{
    public static double? Best(StageCostTable table, int hosts, int m, long mem, int b, PipelineSchedule schedule)
    {
        var l = table.LayerCount;
        double? best = null;
        for (var mask = 0; mask < 1 << (l - 1); mask++)
        {
            var ranges = new List<(int, int)>();
            var start = 0;
            for (var i = 0; i < l - 1; i++)
                if ((mask >> i & 1) == 1) { ranges.Add((start, i)); start = i + 1; }
            ranges.Add((start, l - 1));
            Assign(table, ranges, 0, hosts * m, mem, b, schedule, [], ref best);
        }
        return best;
    }

    private static void Assign(StageCostTable table, List<(int First, int Last)> ranges, int index, int devicesLeft, long mem, int b,
                               PipelineSchedule schedule, List<StageChoice> chosen, ref double? best)
    {
        if (index == ranges.Count)
        {
            if (devicesLeft != 0) return;
            var value = StageDp.Objective(table, chosen, b);
            if (best is null || value < best) best = value;
            return;
        }
        for (var k = 0; k < table.Submeshes.Count; k++)
        {
            if (table.Submeshes[k].Count > devicesLeft) continue;
            for (var c = 0; c < table.Meshes[k].Count; c++)
            {
                var cost = table[ranges[index].First, ranges[index].Last, k, c];
                var live = ScheduleOrder.LiveMicrobatches(schedule, index, ranges.Count, b);
                if (!cost.IsFeasible || cost.ParameterBytes + (double)live * cost.ActivationBytes > mem) continue;
                chosen.Add(new StageChoice(ranges[index].First, ranges[index].Last, k, c));
                Assign(table, ranges, index + 1, devicesLeft - table.Submeshes[k].Count, mem, b, schedule, chosen, ref best);
                chosen.RemoveAt(chosen.Count - 1);
            }
        }
    }
}
