using System.Text.Json;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Silo.Cli;

/// <summary><c>alpa simulate --plan plan.json [--json]</c>: replays a plan's instruction lists with the cost model.</summary>
internal sealed class SimulateCommand : ICommand
{
    public string Name => "simulate";
    public string Summary => "replays a plan's per-worker instruction lists with the cost model";
    public string Usage => "alpa simulate --plan plan.json [--json]";
    public IReadOnlyList<CliOption> Options { get; } = [new("plan", "FILE", "plan JSON written by 'alpa plan --out' (required)")];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var path = args.Value("plan") ?? throw new UsageException("--plan is required");
        Plan plan;
        try
        {
            plan = PlanJson.Read(File.ReadAllText(path));
        }
        catch (Planner.AlpaException e)
        {
            throw new PlanFileException($"{path}: {e.Message}") { Field = e.Field };
        }
        var sim = PipelineSimulator.Simulate(plan);
        if (context.Json) context.WriteJson(w => WriteJson(w, plan, sim));
        else PlanText.Write(context.Out, Path.GetFileName(path), plan, sim);
        return CliApp.Ok;
    }

    private static void WriteJson(Utf8JsonWriter w, Plan plan, SimulationResult sim)
    {
        w.WriteStartObject();
        w.WriteNumber("step_seconds", sim.StepSeconds);
        w.WriteNumber("dp_objective_seconds", plan.DpObjectiveSeconds);
        w.WriteNumber("bubble_fraction", sim.BubbleFraction);
        w.WriteNumber("tflops_per_device", sim.TflopsPerDevice);
        w.WriteNumber("flops_per_step", sim.FlopsPerStep);
        w.WriteStartArray("stages");
        foreach (var s in sim.Stages)
        {
            w.WriteStartObject();
            w.WriteNumber("stage", s.Stage);
            w.WriteNumber("finish_seconds", s.FinishSeconds);
            w.WriteNumber("busy_seconds", s.BusySeconds);
            w.WriteNumber("peak_memory_bytes", s.PeakMemoryBytes);
            w.WriteNumber("peak_live_microbatches", s.PeakLiveMicrobatches);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("collectives");
        foreach (var c in sim.Collectives)
        {
            w.WriteStartObject();
            w.WriteNumber("stage", c.Stage);
            w.WriteString("kind", c.Kind.ToString());
            w.WriteNumber("axis", c.Axis);
            w.WriteNumber("bytes", c.Bytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

/// <summary>A plan file could not be read.</summary>
internal sealed class PlanFileException(string message) : Planner.AlpaException(message);
