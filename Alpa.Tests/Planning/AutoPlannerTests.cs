using Alpa.Planner.Cluster;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;
using Alpa.Planner.Training;

namespace Alpa.Tests.Planning;

public sealed class AutoPlannerTests
{
    [Fact]
    public void EveryLayerSubgraphOfATrainingGraphHasAnIntraOpPlan()
    {
        foreach (var batch in new[] { 32, 8, 1 })
        {
            var model = ModelZoo.Get("mlp").Build(batch);
            var training = TrainingGraph.Build(model, new TrainingOptions());
            foreach (var (h, d) in new[] { (1, 1), (1, 2), (1, 4) })
            {
                foreach (var mesh in LogicalMesh.AllShapes(BuiltInClusters.P3(h, d)))
                {
                    foreach (var layer in LayerSubgraph.Split(training))
                    {
                        var r = IntraOpPass.Run(layer.Graph, mesh);
                        Assert.True(r.ObjectiveSeconds >= 0, $"layer {layer.Layer}");
                    }
                }
            }
        }
    }
}

public sealed class AutoPlannerEndToEndTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    public void PlansTheMlpOnFourDevices(int threads)
    {
        var r = AutoPlanner.Plan(ModelZoo.Get("mlp"), BuiltInClusters.P3(1, 4), new AutoPlanOptions { MaxParallelism = threads });
        Assert.Equal(4, r.Plan.Stages.Sum(s => s.Submesh.Count));
    }
}

public sealed class AutoPlannerBudgetTests
{
    [Fact]
    public void AnImpossibleBudgetSaysWhatTheTightestLayerNeeds()
    {
        var e = Assert.Throws<Alpa.Planner.Inter.InterOpException>(() => AutoPlanner.Plan(ModelZoo.Get("mlp"), BuiltInClusters.P3(1, 2),
            new AutoPlanOptions { Method = PlanMethod.IntraOnly, MemoryBudgetBytes = 1e3 }));
        Assert.Equal("memory_budget", e.Field);
        Assert.Contains("needs at least", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IntraOnlyIsOneStageOnTheWholeCluster()
    {
        var r = AutoPlanner.Plan(ModelZoo.Get("mlp"), BuiltInClusters.P3(1, 4), new AutoPlanOptions { Method = PlanMethod.IntraOnly });
        var stage = Assert.Single(r.Plan.Stages);
        Assert.Equal(4, stage.Submesh.Count);
        Assert.True(r.Solver.Solves > 0 && r.Solver.ProvenOptimal == r.Solver.Solves);
    }
}
