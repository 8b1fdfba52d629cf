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
/// <param name="TransferSeconds">A SEND beyond one instruction (median), plus the median time a waiting RECV takes to resume after its SEND ended.</param>
public sealed record InterpreterCosts(double InstructionSeconds, double RunSeconds, double TransferSeconds);

/// <summary>
/// Measures the interpreter on a real pipeline whose kernels cost nothing: a 8-wide MLP, one stage per
/// device of the cluster up to the machine's cores (at least 2, so that boundaries exist), 8 microbatches under 1F1B, every
/// stage on a (1, 1) mesh, all stages running at once as in a real job. The fixed costs are read from
/// the timed events of 10 steps after 10 warm-up steps (the JIT promotes the hot code meanwhile); RUNs are charged what the cost model already
/// prices (their ops, with the spec's op costs) so that only the rest is attributed to the RUN.
/// </summary>
public static class InterpreterProbe
{
    public static InterpreterCosts Measure(ClusterSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        // No more stages than cores (the probe measures a device with a core of its own), at least 2.
        var stages = Math.Max(2, Math.Min(spec.Devices, Environment.ProcessorCount));
        var model = new MlpSpec { Name = "probe-mlp", Batch = 16, DType = DType.F32, Layers = stages, Hidden = 8, Ffn = 8 };
        using var run = LocalPipeline.Create(model, spec.WithShape(1, stages), [.. Enumerable.Repeat((1, 1, 1, 1), stages)], 8, PipelineSchedule.OneFOneB);
        var events = new List<PipelineEvent>();
        var handoffs = new List<double>();
        for (var step = 0; step < 20; step++)
        {
            run.Step(step);
            if (step < 10) continue;
            events.AddRange(run.Runner.LastStep!.Events);
            handoffs.AddRange(Handoffs(run.Runner.LastStep!.Events));
        }
        static double Duration(PipelineEvent e) => e.EndSeconds - e.StartSeconds;
        var plan = run.Runner.Plan;
        var instruction = OverheadProbe.Median([.. events.Where(e => e.Kind == PipelineEventKind.Free).Select(Duration)]);
        var runs = events.Where(e => e.Kind is PipelineEventKind.Forward or PipelineEventKind.Backward)
            .Select(e => Duration(e) - instruction - (e.Kind == PipelineEventKind.Forward ? plan.Stages[e.Stage].ForwardSeconds : plan.Stages[e.Stage].BackwardSeconds))
            .ToArray();
        var sends = events.Where(e => e.Kind == PipelineEventKind.Send).Select(e => Duration(e) - instruction).ToArray();
        var handoff = handoffs.Count > 0 ? OverheadProbe.Median(handoffs) : 0;
        return new InterpreterCosts(instruction, Math.Max(0, OverheadProbe.Median(runs)), Math.Max(0, OverheadProbe.Median(sends)) + handoff);
    }

    /// <summary>
    /// For every RECV of one step that had to wait: the time from the matching SEND's end (the latest
    /// SEND of the same microbatch by a neighbouring stage that ended before the RECV did) until the
    /// receiving worker resumed — waking the worker's continuation on the thread pool.
    /// </summary>
    private static IEnumerable<double> Handoffs(IEnumerable<PipelineEvent> events)
    {
        var sends = events.Where(e => e.Kind == PipelineEventKind.Send).ToArray();
        foreach (var recv in events.Where(e => e.Kind == PipelineEventKind.Recv))
        {
            var arrival = sends.Where(x => x.Microbatch == recv.Microbatch && Math.Abs(x.Stage - recv.Stage) == 1 && x.EndSeconds <= recv.EndSeconds)
                               .Select(x => (double?)x.EndSeconds).Max();
            if (arrival is { } at && at > recv.StartSeconds) yield return recv.EndSeconds - at;
        }
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
