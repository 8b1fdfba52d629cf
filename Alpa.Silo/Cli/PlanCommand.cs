using System.Diagnostics;
using Alpa.Planner;
using Alpa.Planner.Inter;
using Alpa.Planner.Intra;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa plan --model M --cluster C [--method auto|intra-only|inter-only] …</c>: runs the two-level
/// search and prints the plan (or, with <c>--json</c>, the plan document of DESIGN §6).
/// </summary>
internal sealed class PlanCommand : ICommand
{
    public string Name => "plan";
    public string Summary => "finds a parallelization plan (stages, submeshes, shardings) for a model on a cluster";
    public string Usage => "alpa plan --model M --cluster C [--method auto|intra-only|inter-only] [--microbatches B] [--memory-budget BYTES] [--solver ilp|brute] [--json] [--out plan.json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("model", "M", "built-in model name or JSON model file (required)"),
        new("cluster", "C", "NAME:HOSTSxDEVICES (aws-p3.16xlarge:2x8, dgx-h100:1x8, local:1x4) or a JSON cluster file (required)"),
        new("method", "NAME", "auto (default), intra-only or inter-only (Alpa's ablations)"),
        new("microbatches", "B", "microbatch count (default: the best power of two dividing the batch, up to 64)"),
        new("layers", "L", "number of clustered layers (default: chosen by the clustering)"),
        new("schedule", "NAME", "1f1b (default) or gpipe"),
        new("memory-budget", "BYTES", "per-device memory budget of the sharding ILP (e.g. 12e9)"),
        new("solver", "NAME", "ilp (CBC, default) or brute (small graphs only)"),
        new("remat", "MODE", "activation recomputation: auto (default: only when nothing fits without), on, off"),
        new("out", "FILE", "write the plan JSON to FILE"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    public int Run(CommandArgs args, CliContext context)
    {
        var spec = ModelArgument.Load(args.Value("model") ?? throw new UsageException("--model is required (e.g. --model gpt-tiny)"));
        var cluster = ClusterArgument.Load(args.Value("cluster") ?? throw new UsageException("--cluster is required (e.g. --cluster aws-p3.16xlarge:1x4)"), context.Err);
        var options = PlanOptions(args);

        var clock = Stopwatch.StartNew();
        var timing = new PlanTiming();
        var result = AutoPlanner.Plan(spec, cluster, options with { Instrument = timing.Wrap }, new CandidateProgress(context.Err));
        timing.Finish();
        var plan = result.Plan with { CompileSeconds = Math.Round(clock.Elapsed.TotalSeconds, 3) };
        var json = PlanJson.Write(plan);
        if (args.Value("out") is { } path)
        {
            File.WriteAllText(path, json);
            context.Err.WriteLine($"plan written to {path}");
        }
        if (context.Json) context.Out.WriteLine(json);
        else
        {
            PlanText.Write(context.Out, spec.Name, plan, result.Result.Simulation, result);
            PlanText.WriteShardings(context.Out, plan);
            var total = clock.Elapsed.TotalSeconds;
            context.Out.WriteLine($"time         {timing.Describe(total)}");
        }
        return CliApp.Ok;
    }

    /// <summary>The planning options of <c>alpa plan</c> (also read by <c>alpa train</c>).</summary>
    internal static AutoPlanOptions PlanOptions(CommandArgs args) => new()
    {
        Method = args.Value("method") switch
        {
            null or "auto" => PlanMethod.Auto,
            "intra-only" => PlanMethod.IntraOnly,
            "inter-only" => PlanMethod.InterOnly,
            var m => throw new UsageException($"--method must be auto, intra-only or inter-only, got '{m}'"),
        },
        Microbatches = args.Has("microbatches") ? args.PositiveInt("microbatches", 1) : null,
        Layers = args.Has("layers") ? args.PositiveInt("layers", 1) : null,
        Schedule = args.Value("schedule") switch
        {
            null or "1f1b" => PipelineSchedule.OneFOneB,
            "gpipe" => PipelineSchedule.GPipe,
            var s => throw new UsageException($"--schedule must be 1f1b or gpipe, got '{s}'"),
        },
        MemoryBudgetBytes = args.Has("memory-budget") ? args.Number("memory-budget", 0, positive: true, example: " of bytes (e.g. 12e9)") : null,
        Solver = args.Value("solver") switch
        {
            null or "ilp" => IntraSolverKind.Ilp,
            "brute" => IntraSolverKind.Brute,
            var s => throw new UsageException($"--solver must be ilp or brute, got '{s}'"),
        },
        Remat = args.Value("remat") switch
        {
            null or "auto" => null,
            "on" => true,
            "off" => false,
            var r => throw new UsageException($"--remat must be auto, on or off, got '{r}'"),
        },
    };

    /// <summary>Candidates evaluated, on stderr, at most every 10% per microbatch count.</summary>
    private sealed class CandidateProgress(TextWriter err) : IProgress<InterOpProgress>
    {
        private readonly object _gate = new();
        private (int B, int Decile) _last = (-1, -1);

        public void Report(InterOpProgress p)
        {
            var decile = p.Total == 0 ? 10 : 10 * p.Evaluated / p.Total;
            lock (_gate)
            {
                if ((p.Microbatches, decile) == _last) return;
                _last = (p.Microbatches, decile);
                err.WriteLine($"planning: B={p.Microbatches,-4} stage candidates {p.Evaluated}/{p.Total}");
            }
        }
    }
}

/// <summary>Human-readable plan summary shared by <c>plan</c> and <c>simulate</c>.</summary>
internal static class PlanText
{
    public static void Write(TextWriter o, string model, Plan plan, SimulationResult sim, AutoPlanResult? search = null)
    {
        o.WriteLine($"plan         {model} on {plan.Cluster.Name}: {plan.Stages.Count} stage(s), {plan.Microbatches} microbatches, {ScheduleName(plan.Schedule)}");
        o.WriteLine($"step         {sim.StepSeconds * 1e3:F3} ms simulated (DP objective {plan.DpObjectiveSeconds * 1e3:F3} ms), bubble {sim.BubbleFraction:P1}");
        o.WriteLine($"throughput   {sim.TflopsPerDevice:F3} TFLOPS per device");
        if (search is not null)
        {
            var v = search.Solver;
            o.WriteLine($"search       {search.Layers} clustered layers, remat {(search.Remat ? "on" : "off")}, {plan.CompileSeconds:F2} s");
            o.WriteLine($"ILP          {v.Solves} CBC solves ({v.ProvenOptimal} proven optimal, max gap {v.MaxGap:G3}), largest {v.MaxIlpVariables} columns × {v.MaxIlpConstraints} rows, " +
                        $"{v.StrategiesPerVariable:F1} strategies per variable, {v.SearchNodes} branch-and-bound nodes");
        }
        o.WriteLine();
        o.WriteLine("stage  layers    submesh  mesh     devices          fwd ms     bwd ms  sync+upd ms  peak memory   heavy ops");
        for (var i = 0; i < plan.Stages.Count; i++)
        {
            var s = plan.Stages[i];
            var devices = string.Join(',', s.Devices);
            if (devices.Length > 15) devices = devices[..12] + "...";
            o.WriteLine($"{i,5}  {$"{s.FirstLayer}-{s.LastLayer}",-8}  {s.Submesh,-7}  {s.LogicalMesh,-7}  {devices,-15} {s.ForwardSeconds * 1e3,9:F3}  {s.BackwardSeconds * 1e3,9:F3}  {(s.UpdateSeconds + s.Collectives.Sum(c => c.Seconds)) * 1e3,11:F3}  {Units.Bytes(s.PeakMemoryBytes),11}   {s.Strategies.Count,5}");
        }
    }

    /// <summary>The shardings of the first stage's weights: what a reader checks first.</summary>
    public static void WriteShardings(TextWriter o, Plan plan, int max = 8)
    {
        if (plan.Stages.Count == 0) return;
        var stage = plan.Stages[0];
        var sharded = stage.ParameterSpecs.Where(p => p.Key.EndsWith(".weight", StringComparison.Ordinal)).Take(max).ToArray();
        if (sharded.Length == 0) return;
        o.WriteLine();
        o.WriteLine($"stage 0 weights on mesh {stage.LogicalMesh} (R replicated, S0/S1 split along mesh axis 0/1; all in the plan JSON):");
        foreach (var (name, spec) in sharded) o.WriteLine($"  {name,-36} [{string.Join(", ", spec)}]");
    }

    public static string ScheduleName(PipelineSchedule s) => s == PipelineSchedule.GPipe ? "gpipe" : "1f1b";
}
