using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Alpa.Planner.Baselines;
using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Models;
using Alpa.Planner.Plans;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa bench paper</c> and <c>alpa bench intra-ablation</c>: the paper's end-to-end weak-scaling benchmark (§8.1, Figure 7): every
/// model size on its GPU count, planned by Alpa (auto), its two ablations (intra-only, inter-only) and
/// the family's hand-designed baseline, all simulated the same way. Writes
/// <c>bench/results/paper-&lt;cluster&gt;-&lt;date&gt;.json</c> and an SVG chart next to it.
/// </summary>
internal static class PaperBench
{
    /// <summary>Each suite's methods; <c>baseline</c> is the family's hand-designed system.</summary>
    public static readonly Dictionary<string, string[]> Suites = new()
    {
        ["paper"] = ["auto", "intra-only", "inter-only", "baseline"],
        // Paper Figure 9: intra-op only on one mesh, Alpa's ILP against the data-parallel family and the heuristic.
        ["intra-ablation"] = ["intra-only", "data", "zero2", "zero3", "heuristic"],
        // Paper Figures 10 and 11 (AblationBench).
        ["inter-ablation"] = [.. AblationBench.StageRules.Keys],
        ["reshard-ablation"] = [.. AblationBench.ReshardMethods],
    };

    /// <summary>Families and GPU counts a suite runs unless --family / --min-gpus / --max-gpus say otherwise.</summary>
    private static readonly Dictionary<string, (string[] Families, int MinGpus, int MaxGpus)> Defaults = new()
    {
        ["inter-ablation"] = (["gpt", "wresnet"], 1, 64),
        ["reshard-ablation"] = (["wresnet"], 16, 32),
    };

    private static readonly Dictionary<string, string> Titles = new()
    {
        ["paper"] = "Alpa vs baselines",
        ["intra-ablation"] = "Intra-op ablation (one mesh)",
        ["inter-ablation"] = "Inter-op ablation: stage DP vs equal layers vs equal operators",
        ["reshard-ablation"] = "Cross-mesh resharding: with vs without local all-gather",
    };

    public static int Run(CommandArgs args, CliContext context)
    {
        var suite = args.Positionals[0];
        if (!Suites.TryGetValue(suite, out var allMethods))
            throw new UsageException($"unknown suite '{suite}': suites are {string.Join(", ", Suites.Keys)}");
        var family = args.Value("family");
        if (family is not null && !PaperSuite.Families.Contains(family))
            throw new UsageException($"--family must be one of {string.Join(", ", PaperSuite.Families)}, got '{family}'");
        var clusterName = args.Value("cluster") ?? BuiltInClusters.AwsP3;
        if (!BuiltInClusters.Names.Contains(clusterName))
            throw new UsageException($"--cluster must be one of {string.Join(", ", BuiltInClusters.Names)}, got '{clusterName}'");
        var defaults = Defaults.GetValueOrDefault(suite, ([.. PaperSuite.Families], 1, 64));
        var maxGpus = args.PositiveInt("max-gpus", defaults.MaxGpus);
        var minGpus = args.PositiveInt("min-gpus", defaults.MinGpus);
        var methods = (args.Value("methods") ?? string.Join(',', allMethods)).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var m in methods)
            if (!allMethods.Contains(m)) throw new UsageException($"--methods of '{suite}' takes {string.Join(", ", allMethods)}, got '{m}'");

        var cases = PaperSuite.Cases.Where(c => (family is null ? defaults.Families.Contains(c.Family) : c.Family == family) && c.Gpus <= maxGpus && c.Gpus >= minGpus).ToArray();
        var loadBefore = Benchmarks.BenchMachine.LoadAverage();
        var rows = Measure(cases, clusterName, methods, context.Err, suite == "reshard-ablation");
        var run = new RunFacts("./alpa " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), Benchmarks.BenchMachine.Date(),
            Benchmarks.BenchMachine.Describe(), $"before: {loadBefore}; after: {Benchmarks.BenchMachine.LoadAverage()}");

        var date = DateTime.UtcNow.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var dir = args.Value("out") ?? ResultsDirectory();
        Directory.CreateDirectory(dir);
        var stem = Path.Combine(dir, suite == "paper" ? $"paper-{clusterName}-{date}" : $"paper-{suite}-{clusterName}-{date}");
        rows = BenchRow.Merge(stem + ".json", rows);
        var json = Json(suite, rows, clusterName, maxGpus, run);
        File.WriteAllText(stem + ".json", json);
        var title = Titles[suite];
        File.WriteAllText(stem + ".svg", BenchChart.Svg(rows, $"{title}, weak scaling on {clusterName} (simulated)"));
        context.Err.WriteLine($"bench: wrote {stem}.json and {stem}.svg");
        if (context.Json) context.Out.WriteLine(json);
        else WriteTable(context.Out, rows);
        return CliApp.Ok;
    }

    private static List<BenchRow> Measure(IReadOnlyList<PaperCase> cases, string clusterName, IReadOnlyList<string> methods, TextWriter log, bool reshard)
    {
        var rows = new List<BenchRow>();
        foreach (var c in cases)
        {
            var (hosts, perHost) = PaperSuite.Shape(c.Gpus);
            var cluster = BuiltInClusters.Resolve(new ClusterName(clusterName, hosts, perHost));
            var model = ModelZoo.Get(c.Model);
            var flops = PaperSuite.ModelFlopsPerStep(model);
            var measured = reshard
                ? AblationBench.ReshardRows(c, model, cluster, methods, flops)
                : methods.Select(m => AblationBench.StageRules.ContainsKey(m)
                    ? AblationBench.StageRuleRow(c, model, cluster, m, flops)
                    : BenchRunner.Run(c, model, cluster, m, flops));
            foreach (var row in measured)
            {
                rows.Add(row);
                log.WriteLine($"bench: {c.Model,-13} {c.Gpus,2} GPUs {row.Method,-19} " +
                    (row.Error.Length > 0 ? $"n/a ({row.Error})" : row.Oom ? "OOM" : $"{row.TflopsPerDevice,7:F2} TFLOPS/dev {row.Config}") +
                    $" [{row.CompileSeconds:F1} s]");
            }
        }
        return rows;
    }

    /// <summary>bench/results of the repository holding the working directory (the directory with Alpa.sln), else of the working directory.</summary>
    private static string ResultsDirectory()
    {
        for (var d = new DirectoryInfo(Directory.GetCurrentDirectory()); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Alpa.sln"))) return Path.Combine(d.FullName, "bench", "results");
        return Path.Combine("bench", "results");
    }

    /// <summary>How the latest rows were measured (the machine is shared: its load is part of the record).</summary>
    private sealed record RunFacts(string Command, string Date, string Machine, string Load);

    private static string Json(string suite, IReadOnlyList<BenchRow> rows, string cluster, int maxGpus, RunFacts run)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("suite", suite);
            w.WriteString("cluster", cluster);
            w.WriteString("command", run.Command);
            w.WriteString("date", run.Date);
            w.WriteString("machine", run.Machine);
            w.WriteString("load_average", run.Load);
            w.WriteNumber("max_gpus", rows.Count == 0 ? maxGpus : rows.Max(r => r.Gpus));
            w.WriteString("throughput", "model FLOPs per step (forward + backward, recomputation not counted) / simulated step time");
            w.WriteStartArray("rows");
            foreach (var r in rows) r.Write(w);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteTable(TextWriter o, IReadOnlyList<BenchRow> rows)
    {
        o.WriteLine("model          GPUs  method              TFLOPS/dev   PFLOPS   compile s  plan");
        foreach (var r in rows)
        {
            var value = r.Error.Length > 0 ? "n/a" : r.Oom ? "OOM" : r.TflopsPerDevice.ToString("F2", CultureInfo.InvariantCulture);
            var pf = r.Error.Length > 0 || r.Oom ? "" : r.Pflops.ToString("F3", CultureInfo.InvariantCulture);
            o.WriteLine($"{r.Model,-14} {r.Gpus,4}  {r.Method,-18}  {value,10}  {pf,7}  {r.CompileSeconds,9:F1}  {(r.Error.Length > 0 ? r.Error : r.Config)}");
        }
    }
}

/// <summary>Plans one (model, cluster, method) of the paper suite and turns it into a row.</summary>
internal static class BenchRunner
{
    public static BenchRow Run(PaperCase c, ModelSpec model, ClusterSpec cluster, string method, double modelFlops)
    {
        var row = new BenchRow { Family = c.Family, Model = c.Model, Gpus = c.Gpus, Method = method };
        var clock = Stopwatch.StartNew();
        try
        {
            if (method == "baseline" || BaselineGrid.Parse(method) is not null)
            {
                var baseline = BaselineGrid.Parse(method) ?? PaperSuite.Baseline(c.Family);
                var r = BaselinePlanner.Plan(baseline, model, cluster);
                row = row with { Method = BaselineGrid.Name(baseline) };
                if (r.Best is not { Result: { } best } winner) return row with { Oom = true, CompileSeconds = clock.Elapsed.TotalSeconds };
                return Measured(row, best.Plan, modelFlops, clock, $"{winner.Point}{(winner.Remat ? " remat" : "")}");
            }
            var options = new Planner.Planning.AutoPlanOptions
            {
                Method = method switch
                {
                    "intra-only" => Planner.Planning.PlanMethod.IntraOnly,
                    "inter-only" => Planner.Planning.PlanMethod.InterOnly,
                    _ => Planner.Planning.PlanMethod.Auto,
                },
            };
            var a = Planner.Planning.AutoPlanner.Plan(model, cluster, options);
            var plan = a.Plan;
            var shape = string.Join(" ", plan.Stages.Select(s => $"{s.FirstLayer}-{s.LastLayer}@{s.LogicalMesh}"));
            return Measured(row, plan, modelFlops, clock, $"B={plan.Microbatches} {shape}{(a.Remat ? " remat" : "")}");
        }
        catch (InterOpException e) when (e.Field == "memory")
        {
            return row with { Oom = true, CompileSeconds = clock.Elapsed.TotalSeconds };
        }
        catch (InterOpException e)
        {
            return row with { Error = e.Message, CompileSeconds = clock.Elapsed.TotalSeconds };
        }
    }

    internal static BenchRow Measured(BenchRow row, Plan plan, double modelFlops, Stopwatch clock, string config)
    {
        var perSecond = modelFlops / plan.StepSeconds;
        return row with
        {
            StepSeconds = plan.StepSeconds,
            TflopsPerDevice = perSecond / row.Gpus / 1e12,
            Pflops = perSecond / 1e15,
            CompileSeconds = clock.Elapsed.TotalSeconds,
            Config = config,
        };
    }
}
