using Alpa.Client.Jobs;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Pipeline;

namespace Alpa.Silo.Jobs;

/// <summary>
/// Jobs with more than one microbatch: the automatic pipeline plan on the silo's local devices,
/// executed by the in-process driver and mesh workers (<see cref="PipelineStepRunner"/>), shown in
/// the dashboard's terms (stages, per-instruction timeline).
/// </summary>
internal static class PipelineJobs
{
    public static (Plan Plan, PipelineStepRunner Runner) Prepare(ModelSpec spec, Alpa.Planner.Graph.Graph model, TrainingOptions options,
        ClusterSpec cluster, int microbatches, ulong seed)
    {
        var plan = AutoPlanner.Plan(spec, cluster, new AutoPlanOptions { Microbatches = microbatches, Training = options }).Plan;
        var micro = TrainingGraph.Build(spec.Build((int)(model.Inputs.First().Shape[0] / plan.Microbatches)), options);
        return (plan, new PipelineStepRunner(model, micro, plan, cluster, seed));
    }

    /// <summary>Each stage with its layers, submesh, devices (by name) and predicted time per step (B microbatches forward and backward, one update).</summary>
    public static JobPlan ToJobPlan(Plan plan, IReadOnlyList<string> devices, string silo) => ToJobPlan(plan, d => devices[d], _ => silo);

    /// <summary>As above, for stages on different silos: <paramref name="deviceName"/> names a plan device, <paramref name="workerOfStage"/> the silo of a stage.</summary>
    public static JobPlan ToJobPlan(Plan plan, Func<int, string> deviceName, Func<int, string> workerOfStage) => new()
    {
        Method = plan.Stages.Count > 1 ? "pipeline" : "intra-op",
        Microbatches = plan.Microbatches,
        Stages = [.. plan.Stages.Select((s, i) => new Alpa.Client.Jobs.PlanStage
        {
            Index = i,
            Layers = [s.FirstLayer, s.LastLayer],
            Submesh = [s.Submesh.Hosts, s.Submesh.Devices],
            LogicalMesh = [s.LogicalMesh.N0, s.LogicalMesh.N1],
            Worker = workerOfStage(i),
            Devices = [.. s.Devices.Select(deviceName)],
            PredictedSeconds = plan.Microbatches * (s.ForwardSeconds + s.BackwardSeconds) + s.UpdateSeconds,
            PeakMemoryBytes = s.PeakMemoryBytes,
        })],
        ParameterSpecs = plan.Stages.SelectMany(s => s.ParameterSpecs)
            .ToDictionary(p => p.Key, p => p.Value.ToArray(), StringComparer.Ordinal),
        Strategies = plan.Stages.SelectMany(s => s.Strategies).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal),
    };

    /// <summary>One event per executed instruction and device of its stage; per-device peak bytes; seconds per stage.</summary>
    public static (IReadOnlyList<TimelineEvent> Timeline, IReadOnlyList<long> Peaks, IReadOnlyList<double> StageSeconds) Measured(
        PipelineStepResult step, Plan plan, IReadOnlyList<string> devices, string silo)
    {
        var timeline = step.Events
            .SelectMany(e => plan.Stages[e.Stage].Devices.Select(d => new TimelineEvent(devices[d], silo, e.Stage,
                e.Kind.ToString().ToLowerInvariant(), Math.Max(0, e.Microbatch), e.StartSeconds, e.EndSeconds)))
            .ToList();
        var peaks = new long[devices.Count];
        foreach (var w in step.Workers)
        {
            foreach (var d in plan.Stages[w.Worker].Devices) peaks[d] = Math.Max(peaks[d], w.PeakMemoryBytes);
        }
        return (timeline, peaks, [.. step.Workers.OrderBy(w => w.Worker).Select(w => w.Seconds)]);
    }
}
