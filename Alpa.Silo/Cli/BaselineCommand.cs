using System.Diagnostics;
using System.Text.Json;
using Alpa.Planner.Baselines;
using Alpa.Planner.Plans;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa baseline --method M --model X --cluster C</c>: the best plan of a hand-designed family
/// (Megatron-LM, DeepSpeed, PP-DP, data, ZeRO-2/3, heuristic) by grid search, planned and simulated by
/// the same machinery as <c>alpa plan</c>; prints the grid and the winner, or <c>oom</c>.
/// </summary>
internal sealed class BaselineCommand : ICommand
{
    public string Name => "baseline";
    public string Summary => "the best plan of a hand-designed family (megatron, deepspeed, ppdp, …) by grid search";
    public string Usage => "alpa baseline --method megatron|deepspeed|ppdp|data|zero2|zero3|heuristic --model M --cluster C [--max-microbatches B] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("method", "NAME", "megatron, deepspeed, ppdp, data, zero2, zero3 or heuristic (required)"),
        new("model", "M", "built-in model name or JSON model file (required)"),
        new("cluster", "C", "NAME:HOSTSxDEVICES or a JSON cluster file (required)"),
        new("max-microbatches", "B", "largest microbatch count in the grid (default 64)"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var name = args.Value("method") ?? throw new UsageException("--method is required (e.g. --method megatron)");
        var method = BaselineGrid.Parse(name)
            ?? throw new UsageException($"--method must be one of {string.Join(", ", Enum.GetValues<BaselineMethod>().Select(BaselineGrid.Name))}, got '{name}'");
        var spec = ModelArgument.Load(args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-1.3b)"));
        var cluster = ClusterArgument.Load(args.Value("cluster") ?? throw new UsageException("--cluster is required (e.g. --cluster aws-p3.16xlarge:1x8)"), context.Err);
        var options = new BaselineOptions { MaxMicrobatches = args.PositiveInt("max-microbatches", 64) };
        var clock = Stopwatch.StartNew();
        var result = BaselinePlanner.Plan(method, spec, cluster, options, new GridProgress(context));
        var seconds = clock.Elapsed.TotalSeconds;
        if (context.Json)
        {
            context.WriteJson(w => WriteJson(w, spec.Name, result, seconds));
            return CliApp.Ok;
        }
        var o = context.Out;
        o.WriteLine($"baseline     {BaselineGrid.Name(method)} for {spec.Name} on {cluster.Name}:{cluster.Hosts}x{cluster.DevicesPerHost}: {result.Grid.Count} grid points, {result.IntraSolves} intra-op solves, {seconds:F1} s");
        o.WriteLine();
        o.WriteLine("ranked by the stage-DP objective, as alpa plan ranks its candidates; step = simulated");
        o.WriteLine("grid point                        remat   DP obj ms    step ms      TFLOPS/dev");
        foreach (var g in result.Grid)
            o.WriteLine($"{g.Point,-33} {(g.Remat ? "on" : "off"),-6}  {(g.Oom ? "" : $"{g.Result!.Plan.DpObjectiveSeconds * 1e3:F3}"),-12} {(g.Oom ? "OOM" : $"{g.StepSeconds * 1e3:F3}"),-12} {(g.Oom ? "" : $"{g.Result!.Plan.TflopsPerDevice:F2}")}{(g == result.Best ? "   ← winner" : "")}");
        o.WriteLine();
        if (result.Best is not { Result: { } best } winner)
        {
            o.WriteLine("result       oom: no configuration of the family fits device memory");
            return CliApp.Ok;
        }
        o.WriteLine($"winner       {winner.Point}, remat {(winner.Remat ? "on" : "off")}");
        PlanText.Write(o, spec.Name, best.Plan with { CompileSeconds = seconds }, best.Simulation);
        return CliApp.Ok;
    }

    internal static void WriteJson(Utf8JsonWriter w, string model, BaselineResult r, double seconds)
    {
        w.WriteStartObject();
        w.WriteString("method", BaselineGrid.Name(r.Method));
        w.WriteString("model", model);
        w.WriteBoolean("oom", r.Oom);
        w.WriteNumber("compile_seconds", Math.Round(seconds, 3));
        w.WriteNumber("intra_solves", r.IntraSolves);
        if (r.Best is { } best)
        {
            w.WritePropertyName("winner");
            WritePoint(w, best);
            w.WritePropertyName("plan");
            using var doc = JsonDocument.Parse(PlanJson.Write(best.Result!.Plan));
            doc.RootElement.WriteTo(w);
        }
        w.WriteStartArray("grid");
        foreach (var g in r.Grid) WritePoint(w, g);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WritePoint(Utf8JsonWriter w, GridOutcome g)
    {
        w.WriteStartObject();
        w.WriteNumber("data", g.Point.Data);
        w.WriteNumber("tensor", g.Point.Tensor);
        w.WriteNumber("pipeline", g.Point.Pipeline);
        w.WriteNumber("microbatches", g.Point.Microbatches);
        w.WriteNumber("zero", (int)g.Point.Zero);
        w.WriteBoolean("remat", g.Remat);
        w.WriteBoolean("oom", g.Oom);
        if (!g.Oom)
        {
            w.WriteNumber("dp_objective_seconds", g.Result!.Plan.DpObjectiveSeconds);
            w.WriteNumber("step_seconds", g.StepSeconds);
            w.WriteNumber("tflops_per_device", g.Result!.Plan.TflopsPerDevice);
        }
        w.WriteEndObject();
    }

    /// <summary>One line per grid point on stderr.</summary>
    private sealed class GridProgress(CliContext context) : IProgress<GridOutcome>
    {
        public void Report(GridOutcome g) =>
            context.Err.WriteLine($"baseline: {g.Point} {(g.Oom ? "OOM" : $"{g.StepSeconds * 1e3:F3} ms")}");
    }
}
