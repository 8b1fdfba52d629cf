using Alpa.Client.Jobs;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;

namespace Alpa.Silo.Jobs;

/// <summary>The dashboard's view (<see cref="JobPlan"/>) of what a runner executes.</summary>
public static class JobPlans
{
    /// <summary>One stage over every layer on the given devices; shardings from the intra-op plan (replicated on one device).</summary>
    public static JobPlan From(Graph model, IntraResult? intra, IReadOnlyList<string> devices, string silo, int microbatches)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(devices);
        var single = devices.Count == 1;
        var specs = single || intra is null
            ? model.Parameters.ToDictionary(p => p.Name, p => Enumerable.Repeat("R", p.Shape.Rank).ToArray(), StringComparer.Ordinal)
            : intra.ParameterSpecs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
        var layers = model.Nodes.Select(n => n.Layer).Where(l => l >= 0).DefaultIfEmpty(0).Max();
        var stage = new PlanStage
        {
            Index = 0,
            Layers = [0, layers],
            Submesh = [1, devices.Count],
            LogicalMesh = intra is null ? [1, devices.Count] : intra.LogicalMeshShape,
            Worker = silo,
            Devices = devices,
            PredictedSeconds = intra?.ObjectiveSeconds,
            PeakMemoryBytes = intra?.PeakMemoryBytes,
        };
        return new JobPlan
        {
            Method = single ? "single-device" : "intra-op",
            Stages = [stage],
            ParameterSpecs = specs,
            Strategies = single || intra is null ? new Dictionary<string, string>() : intra.Strategies,
            Microbatches = microbatches,
        };
    }

    /// <summary>The plan with each stage's measured mean step time (the first step, which warms up, left out when there are more).</summary>
    public static JobPlan WithMeasured(JobPlan plan, IReadOnlyList<StepMetrics> steps)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(steps);
        if (steps.Count == 0)
        {
            return plan;
        }
        var counted = (steps.Count > 1 ? steps.Skip(1) : steps).ToList();
        return plan with
        {
            Stages = [.. plan.Stages.Select(s => s with
            {
                MeasuredSeconds = counted.All(m => m.StageSeconds?.Count > s.Index)
                    ? counted.Average(m => m.StageSeconds![s.Index])
                    : counted.Average(m => m.Seconds),
            })],
        };
    }
}
