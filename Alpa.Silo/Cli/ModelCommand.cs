using System.Text.Json;
using Alpa.Planner.Graph;
using Alpa.Planner.Models;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa model M [--microbatches N] [--json]</c>: parameters, global batch, FLOPs per training
/// step with and without rematerialization, memory under the precision policy and a per-layer table.
/// </summary>
internal sealed class ModelCommand : ICommand
{
    public string Name => "model";
    public string Summary => "model summary: parameters, FLOPs per step, memory by precision policy, layers";
    public string Usage => "alpa model M [--microbatches N] [--json]   (M: a built-in name or a JSON model/graph file)";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("microbatches", "N", "split the global batch into N microbatches for the activation figures (default 1)"),
    ];
    public (int Min, int Max) Positionals => (1, 1);

    public int Run(CommandArgs args, CliContext context)
    {
        var spec = ModelArgument.Load(args.Positionals[0]);
        var microbatches = args.PositiveInt("microbatches", 1);
        context.Log($"building {spec.Name} ({spec.Family})");
        var summary = ModelSummary.Of(spec, microbatches);
        if (context.Json) context.WriteJson(w => WriteJson(w, summary));
        else WriteText(context.Out, summary);
        return CliApp.Ok;
    }

    internal static void WriteJson(Utf8JsonWriter w, ModelSummary s)
    {
        w.WriteStartObject();
        w.WriteString("name", s.Name);
        w.WriteString("family", s.Family);
        w.WriteString("dtype", s.DType.ToJsonName());
        w.WriteNumber("parameters", s.Parameters);
        w.WriteNumber("batch", s.Batch);
        w.WriteNumber("microbatches", s.Microbatches);
        w.WriteNumber("nodes", s.Nodes);
        w.WriteNumber("forward_flops", s.ForwardFlops);
        w.WriteNumber("flops_per_step", s.FlopsPerStep);
        w.WriteNumber("flops_per_step_remat", s.FlopsPerStepRemat);
        w.WriteStartObject("memory_bytes");
        var m = s.Memory;
        w.WriteNumber("weights", m.Weights);
        w.WriteNumber("gradients", m.Gradients);
        w.WriteNumber("master_weights", m.MasterWeights);
        w.WriteNumber("optimizer_state", m.OptimizerState);
        w.WriteNumber("gradient_accumulation", m.GradientAccumulation);
        w.WriteNumber("activations", m.Activations);
        w.WriteNumber("total", m.Total);
        w.WriteEndObject();
        w.WriteStartArray("layers");
        foreach (var l in s.Layers)
        {
            w.WriteStartObject();
            w.WriteNumber("index", l.Index);
            w.WriteString("name", l.Name);
            w.WriteNumber("parameters", l.Parameters);
            w.WriteNumber("forward_flops", l.ForwardFlops);
            w.WriteNumber("activation_bytes", l.ActivationBytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteText(TextWriter o, ModelSummary s)
    {
        var m = s.Memory;
        o.WriteLine($"model        {s.Name} ({s.Family}, {s.DType.ToJsonName()}, {s.Nodes} forward nodes)");
        o.WriteLine($"parameters   {Units.Count(s.Parameters)} ({s.Parameters:N0})");
        o.WriteLine($"batch        {s.Batch} (activations for {s.Microbatches} microbatch{(s.Microbatches == 1 ? "" : "es")} of {s.Batch / s.Microbatches})");
        o.WriteLine($"flops/step   {Units.Flops(s.FlopsPerStep)} (forward + backward), {Units.Flops(s.FlopsPerStepRemat)} with remat");
        o.WriteLine($"memory       weights {Units.Bytes(m.Weights)}, gradients {Units.Bytes(m.Gradients)}, master weights {Units.Bytes(m.MasterWeights)},");
        o.WriteLine($"             optimizer state {Units.Bytes(m.OptimizerState)}, grad accumulation {Units.Bytes(m.GradientAccumulation)},");
        o.WriteLine($"             activations/microbatch {Units.Bytes(m.Activations)}; total {Units.Bytes(m.Total)}");
        o.WriteLine();
        var nameWidth = Math.Max(5, s.Layers.Max(l => l.Name.Length));
        o.WriteLine($"{"layer",5}  {"name".PadRight(nameWidth)}  {"params",10}  {"fwd FLOPs",12}  {"activations",12}");
        foreach (var l in s.Layers)
            o.WriteLine($"{l.Index,5}  {l.Name.PadRight(nameWidth)}  {Units.Count(l.Parameters),10}  {Units.Flops(l.ForwardFlops),12}  {Units.Bytes(l.ActivationBytes),12}");
    }
}
