using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Training;

namespace Alpa.Silo.Execution.Bench;

/// <summary>The mesh worker's fixed costs, seconds.</summary>
/// <param name="InstructionSeconds">One instruction's bookkeeping (median FREE).</param>
/// <param name="RunSeconds">A RUN beyond its ops as the cost model prices them (median over RUNs, less one instruction).</param>
/// <param name="TransferSeconds">A SEND beyond one instruction (median).</param>
public sealed record InterpreterCosts(double InstructionSeconds, double RunSeconds, double TransferSeconds);

/// <summary>
/// Measures the interpreter on a real pipeline whose kernels cost nothing: a 8-wide MLP, one stage per
/// device of the cluster (at least 2, so that boundaries exist), 8 microbatches under GPipe, every
/// stage on a (1, 1) mesh, all stages running at once as in a real job. The fixed costs are read from
/// the timed events of 3 steps after 2 warm-up steps; RUNs are charged what the cost model already
/// prices (their ops, with the spec's op costs) so that only the rest is attributed to the RUN.
/// </summary>
public static class InterpreterProbe
{
    public static InterpreterCosts Measure(ClusterSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var stages = Math.Max(2, spec.Devices);
        var model = new MlpSpec { Name = "probe-mlp", Batch = 16, DType = DType.F32, Layers = stages, Hidden = 8, Ffn = 8 };
        using var run = LocalPipeline.Create(model, spec.WithShape(1, stages), [.. Enumerable.Repeat((1, 1, 1, 1), stages)], 8, PipelineSchedule.GPipe);
        var events = new List<PipelineEvent>();
        for (var step = 0; step < 5; step++)
        {
            run.Step(step);
            if (step >= 2) events.AddRange(run.Runner.LastStep!.Events);
        }
        static double Duration(PipelineEvent e) => e.EndSeconds - e.StartSeconds;
        var plan = run.Runner.Plan;
        var instruction = OverheadProbe.Median([.. events.Where(e => e.Kind == PipelineEventKind.Free).Select(Duration)]);
        var runs = events.Where(e => e.Kind is PipelineEventKind.Forward or PipelineEventKind.Backward)
            .Select(e => Duration(e) - instruction - (e.Kind == PipelineEventKind.Forward ? plan.Stages[e.Stage].ForwardSeconds : plan.Stages[e.Stage].BackwardSeconds))
            .ToArray();
        var sends = events.Where(e => e.Kind == PipelineEventKind.Send).Select(e => Duration(e) - instruction).ToArray();
        return new InterpreterCosts(instruction, Math.Max(0, OverheadProbe.Median(runs)), Math.Max(0, OverheadProbe.Median(sends)));
    }
}

/// <summary>A pipeline plan of fixed stages, its runner and synthetic data: what the probe and <c>alpa bench pipeline</c> run.</summary>
internal sealed class LocalPipeline : IDisposable
{
    private readonly SyntheticData _data;

    private LocalPipeline(PipelineStepRunner runner, SyntheticData data) => (Runner, _data) = (runner, data);

    public PipelineStepRunner Runner { get; }

    /// <summary>Plans <paramref name="model"/> with one stage per mesh (layers split evenly) and builds its runner.</summary>
    /// <param name="meshes">Per stage: submesh hosts and devices, logical mesh (n0, n1).</param>
    public static LocalPipeline Create(ModelSpec model, ClusterSpec cluster, (int H, int D, int N0, int N1)[] meshes, int microbatches, PipelineSchedule schedule)
    {
        var layers = model.LayerCount;
        var keys = meshes.Select((m, i) => new StageKey(i * layers / meshes.Length, (i + 1) * layers / meshes.Length - 1,
                                                         new SubmeshShape(m.H, m.D), new LogicalMeshShape(m.N0, m.N1))).ToArray();
        var options = new TrainingOptions();
        var plan = AutoPlanner.Plan(model, cluster, new AutoPlanOptions
        {
            Layers = layers, FixedStages = keys, Microbatches = microbatches, Schedule = schedule, Training = options, Remat = false,
        }).Plan;
        var micro = TrainingGraph.Build(model.Build(model.Batch / microbatches), options);
        var forward = model.Build();
        return new LocalPipeline(new PipelineStepRunner(forward, micro, plan, cluster, 0), new SyntheticData(forward, 0));
    }

    /// <summary>Runs training step <paramref name="step"/> (0-based) on synthetic data.</summary>
    public void Step(int step) => Runner.TrainStep(_data.Batch(step), 1e-3f, step + 1);

    public void Dispose() => Runner.Dispose();
}
