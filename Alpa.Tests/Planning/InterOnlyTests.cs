using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;

namespace Alpa.Tests.Planning;

public sealed class InterOnlyTests
{
    [Fact]
    public void FewerMarkedLayersThanDevicesIsATypedErrorSayingWhy()
    {
        var model = ModelZoo.Get("mlp");
        var cluster = BuiltInClusters.P3(2, 8);
        var e = Assert.Throws<InterOpException>(() => AutoPlanner.Plan(model, cluster, new AutoPlanOptions { Method = PlanMethod.InterOnly }));
        Assert.Equal("method", e.Field);
        Assert.Contains($"marks only {model.LayerCount} layers", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InterOnlyPutsOneStageOnEachDevice()
    {
        var plan = AutoPlanner.Plan(ModelZoo.Get("mlp"), BuiltInClusters.P3(1, 4), new AutoPlanOptions { Method = PlanMethod.InterOnly }).Plan;
        Assert.Equal(4, plan.Stages.Count);
        Assert.All(plan.Stages, s => Assert.Equal(1, s.DeviceCount));
    }
}
