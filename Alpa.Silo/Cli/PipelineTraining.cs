using Alpa.Planner;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Pipeline;

namespace Alpa.Silo.Cli;

/// <summary>A pipeline job ready to train: the plan as executed, its runner and the cluster it runs on.</summary>
internal sealed record PipelineJob(Plan Plan, PipelineStepRunner Runner, ClusterSpec Cluster, bool Remat);

/// <summary>
/// <c>alpa train --cluster local:HxD</c> with a pipeline plan: the automatic plan (or the ablations'
/// <c>--method</c>), or <c>--plan FILE</c> written by <c>alpa plan --out</c>, executed by mesh
/// workers and a driver in this process.
/// </summary>
internal static class PipelineTraining
{
    public static PipelineJob Prepare(CommandArgs args, CliContext context, ModelSpec spec, Graph model, TrainingOptions options, ulong seed)
    {
        var clusterArg = args.Value("cluster") ?? "local:1x1";
        var cluster = ClusterArgument.Load(clusterArg, context.Err);
        if (cluster.Name != BuiltInClusters.Local)
            throw new AlpaException($"--cluster {clusterArg}: training runs on local CPU devices (local:HxD or a cluster file named local, e.g. from 'alpa profile --out'); other clusters are for 'alpa plan'") { Field = "cluster" };
        var (plan, remat) = args.Value("plan") is { } file
            ? Load(file, model, options, cluster, exactCluster: File.Exists(clusterArg))
            : (AutoPlanner.Plan(spec, cluster, PlanCommand.PlanOptions(args) with { Training = options, Remat = options.Remat }).Plan, options.Remat);
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), options with { Remat = remat });
        Describe(context.Err, plan);
        return new PipelineJob(plan, new PipelineStepRunner(model, micro, plan, cluster, seed), cluster, remat);
    }

    /// <summary>
    /// Reads a plan file and refuses it, with the reason, when it was made for another training graph
    /// (model, batch, optimizer) or another cluster shape. A measured <c>local</c> cluster differs run to run,
    /// so for it only the name and shape are compared; a cluster file must match the plan's hash exactly.
    /// </summary>
    private static (Plan Plan, bool Remat) Load(string file, Graph model, TrainingOptions options, ClusterSpec cluster, bool exactCluster)
    {
        if (!File.Exists(file)) throw new AlpaException($"--plan {file}: no such file") { Field = "plan" };
        var plan = PlanJson.Read(File.ReadAllText(file));
        bool? remat = null;
        foreach (var r in new[] { false, true })
            if (GraphHashing.Compute(TrainingGraph.Build(model, options with { Remat = r })) == plan.GraphHash) remat = r;
        if (remat is null)
            throw new PlanMismatchException($"--plan {file} was made for another training graph (its graph_hash {Short(plan.GraphHash)} is not this model's with these training options, with or without recomputation); " +
                                            "re-run 'alpa plan' for this model, batch and optimizer") { Field = "graph_hash" };
        var shape = $"{cluster.Name}:{cluster.Hosts}x{cluster.DevicesPerHost}";
        if (plan.Cluster.Name != shape)
            throw new PlanMismatchException($"--plan {file} is for cluster {plan.Cluster.Name}, not {shape}; plan for this cluster or pass --cluster {plan.Cluster.Name}") { Field = "cluster_hash" };
        if (exactCluster && plan.ClusterHash != AutoPlanner.ToInterOp(cluster).EffectiveHash)
            throw new PlanMismatchException($"--plan {file} was made for another spec of {shape} (cluster_hash differs from the given cluster file's); re-plan with this file") { Field = "cluster_hash" };
        return (plan, remat.Value);
    }

    private static string Short(string hash) => hash.Length > 19 ? hash[..19] + "…" : hash;

    private static void Describe(TextWriter err, Plan plan)
    {
        err.WriteLine($"pipeline plan: {plan.Stages.Count} stage(s), {plan.Microbatches} microbatches, {plan.Schedule.ToJsonName()}, " +
                      $"predicted step {plan.StepSeconds * 1e3:F1} ms");
        foreach (var (st, i) in plan.Stages.Select((s, i) => (s, i)))
            err.WriteLine($"  stage {i}: layers {st.FirstLayer}–{st.LastLayer} on devices [{string.Join(",", st.Devices)}], mesh ({st.LogicalMesh.N0}, {st.LogicalMesh.N1})");
    }
}

/// <summary>The <c>--check</c> reference and the JSON report of a pipeline run.</summary>
internal static class PipelineChecks
{
    /// <summary>
    /// Batch norm normalizes over each microbatch, so with B &gt; 1 a pipelined model with batch norm
    /// equals one device running the same B microbatches (gradient accumulation), not one full batch.
    /// </summary>
    public static bool NeedsMicrobatchedReference(Graph model, Plan plan) =>
        plan.Microbatches > 1 && model.Nodes.Any(n => n.Op == OpKind.BatchNorm);

    /// <summary>One device, the plan's microbatches, gradient accumulation: a one-stage plan on local:1x1.</summary>
    public static PipelineStepRunner MicrobatchedReference(TextWriter err, ModelSpec spec, Graph model, TrainingOptions options, PipelineJob job, ulong seed)
    {
        err.WriteLine($"check: the model normalizes over microbatches, so the reference is one device with the same {job.Plan.Microbatches} microbatches");
        var one = job.Cluster.WithShape(1, 1);
        var plan = AutoPlanner.Plan(spec, one, new AutoPlanOptions
        {
            Method = PlanMethod.IntraOnly, Microbatches = job.Plan.Microbatches, Training = options, Remat = job.Remat,
        }).Plan;
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), options with { Remat = job.Remat });
        return new PipelineStepRunner(model, micro, plan, one, seed);
    }

    /// <summary><c>"pipeline":{…}</c>: the plan's shape, predicted and measured step time, peak live microbatches per stage.</summary>
    public static void WriteJson(System.Text.Json.Utf8JsonWriter w, PipelineJob job)
    {
        var plan = job.Plan;
        w.WriteStartObject("pipeline");
        w.WriteNumber("stages", plan.Stages.Count);
        w.WriteNumber("microbatches", plan.Microbatches);
        w.WriteString("schedule", plan.Schedule.ToJsonName());
        w.WriteNumber("predicted_step_seconds", plan.StepSeconds);
        if (job.Runner.LastStep is { } last)
        {
            w.WriteNumber("last_step_seconds", Math.Round(last.Seconds, 6));
            w.WriteStartArray("peak_live_microbatches");
            foreach (var r in last.Workers) w.WriteNumberValue(r.PeakLiveMicrobatches);
            w.WriteEndArray();
        }
        w.WriteStartArray("meshes");
        foreach (var s in plan.Stages) w.WriteStringValue($"{s.LogicalMesh.N0}x{s.LogicalMesh.N1}");
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
