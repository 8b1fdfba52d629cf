using System.Diagnostics;
using System.Globalization;
using System.Text;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;
using Alpa.Silo.Cli;

namespace Alpa.Silo.Benchmarks;

/// <summary>One planned model of <see cref="PlanBench"/>.</summary>
public sealed record PlanBenchRow
{
    public required string Model { get; init; }
    public required string Cluster { get; init; }
    public required int Devices { get; init; }
    public required int Stages { get; init; }
    public required int Microbatches { get; init; }
    public required bool Remat { get; init; }
    public required double StepSeconds { get; init; }
    public required double TflopsPerDevice { get; init; }
    /// <summary>Largest simulated per-device peak memory over the stages.</summary>
    public required long PeakMemoryBytes { get; init; }
    public required long DeviceMemoryBytes { get; init; }
    public required int IntraSolves { get; init; }
    public required double Seconds { get; init; }
    public required double GraphSeconds { get; init; }
    public required double CandidateSeconds { get; init; }
    public required double DpSeconds { get; init; }
    /// <summary>Why no plan was produced, when none was.</summary>
    public string? Error { get; init; }
}

/// <summary>
/// Compile time of full <c>alpa plan</c> runs (clustering, stage candidates with the intra-op ILP,
/// stage DP, simulation) on the paper's weak-scaling series: each model on its GPU count of
/// <c>aws-p3.16xlarge</c>.
/// </summary>
public static class PlanBench
{
    /// <summary>(model, hosts, devices per host) of the paper's weak-scaling series (models.json).</summary>
    public static IReadOnlyList<(string Model, int Hosts, int Devices)> PaperSeries { get; } =
    [
        ("gpt-350m", 1, 1), ("gpt-760m", 1, 2), ("gpt-1.3b", 1, 4), ("gpt-2.6b", 1, 8), ("gpt-6.7b", 2, 8), ("gpt-15b", 4, 8), ("gpt-39b", 8, 8),
        ("moe-380m", 1, 1), ("moe-690m", 1, 2), ("moe-1.3b", 1, 4), ("moe-2.4b", 1, 8), ("moe-10b", 2, 8), ("moe-27b", 4, 8), ("moe-70b", 8, 8),
        ("wresnet-250m", 1, 1), ("wresnet-500m", 1, 2), ("wresnet-1b", 1, 4), ("wresnet-2b", 1, 8), ("wresnet-4b", 2, 8), ("wresnet-6.8b", 4, 8), ("wresnet-13b", 8, 8),
    ];

    public static PlanBenchRow Run(string model, int hosts, int devices, IProgress<string>? log = null)
    {
        var spec = ModelZoo.Get(model);
        var cluster = BuiltInClusters.P3(hosts, devices);
        var timing = new PlanTiming();
        var clock = Stopwatch.StartNew();
        log?.Report($"planning {model} on {cluster.Name}:{hosts}x{devices} …");
        try
        {
            var r = AutoPlanner.Plan(spec, cluster, new AutoPlanOptions { Instrument = timing.Wrap });
            timing.Finish();
            var plan = r.Plan;
            return new PlanBenchRow
            {
                Model = model, Cluster = $"{cluster.Name}:{hosts}x{devices}", Devices = hosts * devices,
                Stages = plan.Stages.Count, Microbatches = plan.Microbatches, Remat = r.Remat,
                StepSeconds = plan.StepSeconds, TflopsPerDevice = plan.TflopsPerDevice,
                PeakMemoryBytes = plan.Stages.Max(s => s.PeakMemoryBytes), DeviceMemoryBytes = cluster.Device.MemoryBytes,
                IntraSolves = r.IntraSolves, Seconds = clock.Elapsed.TotalSeconds,
                GraphSeconds = timing.GraphSeconds, CandidateSeconds = timing.CandidateSeconds, DpSeconds = timing.DpSeconds,
            };
        }
        catch (Planner.AlpaException e)
        {
            timing.Finish();
            return new PlanBenchRow
            {
                Model = model, Cluster = $"{cluster.Name}:{hosts}x{devices}", Devices = hosts * devices,
                Stages = 0, Microbatches = 0, Remat = false, StepSeconds = double.NaN, TflopsPerDevice = 0,
                PeakMemoryBytes = 0, DeviceMemoryBytes = cluster.Device.MemoryBytes, IntraSolves = 0,
                Seconds = clock.Elapsed.TotalSeconds, GraphSeconds = timing.GraphSeconds,
                CandidateSeconds = timing.CandidateSeconds, DpSeconds = timing.DpSeconds, Error = e.Message,
            };
        }
    }

    /// <summary>Writes bench/results/plan-compile.md and returns its path.</summary>
    public static string Write(IReadOnlyList<PlanBenchRow> rows, string command, string loadBefore, string loadAfter)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Planning time: full `alpa plan` on the paper's weak-scaling series");
        sb.AppendLine();
        sb.AppendLine(inv, $"- command: `{command}`");
        sb.AppendLine(inv, $"- date: {BenchMachine.Date()}");
        sb.AppendLine(inv, $"- machine: {BenchMachine.Describe()}");
        sb.AppendLine(inv, $"- load average (1, 5, 15 min) before: {loadBefore}; after: {loadAfter}");
        sb.AppendLine("- cluster: built-in aws-p3.16xlarge (V100 16 GB) at each model's paper GPU count; method auto, remat auto, 1F1B");
        sb.AppendLine("- reference: Alpa needed 2393 s for GPT-39B on 64 GPUs (paper Table 5), mostly compiling and profiling candidates");
        sb.AppendLine();
        sb.AppendLine("| model | cluster | stages | B | remat | step s (sim) | TFLOPS/dev | peak mem / dev | intra solves | graphs s | candidates s | DP s | total s |");
        sb.AppendLine("|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            if (r.Error is not null)
            {
                sb.AppendLine(inv, $"| {r.Model} | {r.Cluster} | no plan: {r.Error.Replace("|", "/", StringComparison.Ordinal)} |||||||||| {r.Seconds:F1} |");
                continue;
            }
            sb.AppendLine(inv, $"| {r.Model} | {r.Cluster} | {r.Stages} | {r.Microbatches} | {(r.Remat ? "on" : "off")} | {r.StepSeconds:F3} | {r.TflopsPerDevice:F1} | {r.PeakMemoryBytes / 1e9:F1} GB of {r.DeviceMemoryBytes / 1e9:F1} | {r.IntraSolves} | {r.GraphSeconds:F1} | {r.CandidateSeconds:F1} | {r.DpSeconds:F1} | {r.Seconds:F1} |");
        }
        var path = Path.Combine(BenchMachine.ResultsFolder(), "plan-compile.md");
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
