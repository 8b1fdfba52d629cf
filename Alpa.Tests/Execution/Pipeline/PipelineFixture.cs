using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;

namespace Alpa.Tests.Execution.Pipeline;

/// <summary>Pipeline plans of the small models and the check against one device (DESIGN §6).</summary>
internal static class PipelineFixture
{
    /// <summary>A local cluster of CPU devices with plausible measured rates.</summary>
    public static ClusterSpec Cluster(int hosts, int devices) => BuiltInClusters.ForLocal(hosts, devices, 20e9, 8e9, 1e9, 8L << 30);

    /// <summary>Adam with ε = 1e-6 (see SpmdFixture) or, for wresnet-tiny, SGD (its residual branches start with zero gradients).</summary>
    public static TrainingOptions Training(string model) => new()
    {
        Optimizer = model.StartsWith("wresnet", StringComparison.Ordinal) ? new Sgd { Momentum = 0.9 } : new Adam { Epsilon = 1e-6 },
    };

    /// <summary>
    /// A plan with one stage per entry of <paramref name="meshes"/> (submesh hosts × devices, logical n0 × n1):
    /// the model's marked layers (one clustered layer each) split into contiguous, nearly equal ranges.
    /// </summary>
    public static Plan Plan(string model, ClusterSpec cluster, (int H, int D, int N0, int N1)[] meshes, int microbatches, PipelineSchedule schedule)
    {
        var spec = ModelZoo.Get(model);
        var layers = spec.LayerCount;
        var stages = meshes.Select((m, i) => new StageKey(i * layers / meshes.Length, (i + 1) * layers / meshes.Length - 1,
                                                          new SubmeshShape(m.H, m.D), new LogicalMeshShape(m.N0, m.N1))).ToArray();
        return AutoPlanner.Plan(spec, cluster, new AutoPlanOptions
        {
            Layers = layers, FixedStages = stages, Microbatches = microbatches, Schedule = schedule,
            Training = Training(model), Remat = false,
        }).Plan;
    }

    public sealed record CheckOutcome(double LossDiff, double ParamDiff, string Worst, PipelineStepRunner Runner);

    /// <summary>Trains <paramref name="steps"/> steps under the plan and on one device; returns the largest relative differences.</summary>
    public static CheckOutcome Check(string model, Plan plan, ClusterSpec cluster, int steps = 10)
    {
        var spec = ModelZoo.Get(model);
        var forward = spec.Build();
        var options = Training(model);
        var training = TrainingGraph.Build(forward, options);
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), options);
        var data = new SyntheticData(forward, 0);
        var trainer = new TrainerOptions { Steps = steps, EvalEvery = 0, Schedule = new LearningRateSchedule { Peak = options.Optimizer is Adam ? 3e-3 : 0.1, WarmupSteps = 2 } };
        var runner = new PipelineStepRunner(forward, micro, plan, cluster, 0);
        var run = Trainer.Run(runner, data, trainer);
        using var device = LocalStepRunner.CreateCpuDevice();
        using var single = new LocalStepRunner(forward, training, device, 0);
        var reference = Trainer.Run(single, data, trainer);
        var loss = run.Losses.Zip(reference.Losses, (a, b) => Math.Abs(a - b) / Math.Max(Math.Abs(b), 1e-30)).Max();
        var worst = forward.Parameters.Select(p => (p.Name, D: SpmdCheck.RelativeDiff(runner.Read(p.Name), single.Read(p.Name)))).MaxBy(x => x.D);
        return new CheckOutcome(loss, worst.D, worst.Name, runner);
    }
}
