using Alpa.Kernels.Cpu;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Silo.Execution;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;

namespace Alpa.Tests.Spmd;

/// <summary>Forward graphs and the trainer's schedule through the SPMD path.</summary>
public sealed class SpmdForwardTests
{
    [Fact]
    public void ForwardGraphOutputsAreAssembledFromShards()
    {
        var model = ModelZoo.Get("gpt-tiny").Build();
        var plan = IntraOpPass.Run(model, SpmdFixture.Mesh(2, 2));
        var batch = new SyntheticData(model, 4).Batch(0);
        using var spmd = new SpmdExecutor(model, plan, 9);
        using var device = new CpuDevice(0);
        using var one = new GraphExecutor(model, device, new ExecutorOptions { Seed = 9 });
        var a = spmd.Run(batch);
        var b = one.Run(batch);
        Assert.Equal(b.Loss!.Value, a.Loss!.Value, 5);
        foreach (var (name, value) in b.Outputs)
            Assert.True(SpmdCheck.RelativeDiff(a.Outputs[name], value) < 1e-5, name);
        Assert.Equal(model.Parameters.Select(p => one.Read(p.Name).Floats), model.Parameters.Select(p => spmd.Read(p.Name).Floats));
    }

    [Fact]
    public void CheckFollowsTheTrainerSchedule()
    {
        var (m, t) = SpmdFixture.Build("mlp");
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(1, 4));
        var r = SpmdCheck.Run(m, t, plan, 2, 4, new LearningRateSchedule { Peak = 3e-3, WarmupSteps = 2 });
        Assert.Equal(4, r.Losses.Count);
        Assert.True(r.MaxLossRelDiff < 1e-4 && r.MaxParamRelDiff < 1e-4);
    }
}
