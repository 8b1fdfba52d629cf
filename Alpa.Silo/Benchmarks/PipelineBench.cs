using System.Text;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Bench;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Benchmarks;

/// <summary>
/// <c>alpa bench pipeline</c>: measured step time of pipeline and mesh plans on local CPU devices
/// against the simulator's prediction for the same instruction lists with the measured cluster spec;
/// the time workers wait on the driver per step; data-parallel throughput on 2 devices vs 1.
/// </summary>
public static class PipelineBench
{
    /// <summary>One plan measured.</summary>
    /// <param name="BusiestStage">The stage whose RUN, COLLECTIVE and UPDATE instructions took longest.</param>
    /// <param name="Busy">That stage's time in those instructions per step: measured (median) and simulated seconds.</param>
    /// <param name="GcPauseSeconds">Mean time the process stood still in garbage collections per measured step.</param>
    public sealed record Row(string Name, double MeasuredSeconds, double PredictedSeconds, double DriverWaitSeconds,
                             int BusiestStage, (double Measured, double Predicted) Busy, double GcPauseSeconds)
    {
        /// <summary>Devices of the plan (all stages).</summary>
        public int Devices { get; init; }
        /// <summary>Measured / predicted of every round, in round order.</summary>
        public IReadOnlyList<double> RoundRatios { get; init; } = [];
    }

    private const int Warmup = 30, Steps = 9, Rounds = 3;

    /// <param name="measure">Measures local:1xD (the devices share the cores, so rates depend on D).</param>
    public static string Run(Func<int, ClusterSpec> measure, TextWriter log, string command)
    {
        ArgumentNullException.ThrowIfNull(measure);
        var before = BenchMachine.LoadAverage();
        var cache = new Dictionary<int, ClusterSpec>();
        // Every plan, and the probe of its spec, runs with cores / devices BLAS threads per device (LocalCores).
        var share = new List<IDisposable>();
        ClusterSpec Local(int devices)
        {
            share.Add(LocalCores.Share(devices));
            return cache.TryGetValue(devices, out var c) ? c : cache[devices] = measure(devices);
        }
        // The machine's speed drifts (other virtual machines share the host): each round profiles the devices again and
        // measures every plan against that round's own spec; the table shows each plan's median round by ratio.
        var rounds = new List<List<Row>>();
        for (var round = 0; round < Rounds; round++)
        {
            cache.Clear();
            log.WriteLine($"pipeline bench: round {round + 1} of {Rounds}");
            rounds.Add(
            [
                Measure("gpt-tiny: 2 stages × (1,1), B = 8, 1F1B", "gpt-tiny", Local, [(1, 1, 1, 1), (1, 1, 1, 1)], 8, PipelineSchedule.OneFOneB, log),
                Measure("gpt-tiny: 2 stages × (1,1), B = 8, GPipe", "gpt-tiny", Local, [(1, 1, 1, 1), (1, 1, 1, 1)], 8, PipelineSchedule.GPipe, log),
                Measure("gpt-tiny: 1 stage × (1,2), B = 2", "gpt-tiny", Local, [(1, 2, 1, 2)], 2, PipelineSchedule.OneFOneB, log),
                Measure("gpt-tiny: 2 stages × (1,2), B = 4, 1F1B", "gpt-tiny", Local, [(1, 2, 1, 2), (1, 2, 1, 2)], 4, PipelineSchedule.OneFOneB, log),
                Measure("mlp: 2 stages × (1,1), B = 8, 1F1B", "mlp", Local, [(1, 1, 1, 1), (1, 1, 1, 1)], 8, PipelineSchedule.OneFOneB, log),
                Measure("mlp: 4 stages × (1,1), B = 8, 1F1B", "mlp", Local, [(1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1)], 8, PipelineSchedule.OneFOneB, log),
                Measure("mlp: 2 stages × (1,2), B = 4, GPipe", "mlp", Local, [(1, 2, 1, 2), (1, 2, 1, 2)], 4, PipelineSchedule.GPipe, log),
                Measure("moe-tiny: 2 stages × (1,1), B = 4, 1F1B", "moe-tiny", Local, [(1, 1, 1, 1), (1, 1, 1, 1)], 4, PipelineSchedule.OneFOneB, log),
            ]);
        }
        var rows = Enumerable.Range(0, rounds[0].Count).Select(i => MedianRound([.. rounds.Select(r => r[i])])).ToList();
        var local4 = Local(4);
        var parallel = DataParallelBench.Run(Local(2), log);
        var path = StagePathBench.Run(local4, 4, log);
        foreach (var scope in Enumerable.Reverse(share)) scope.Dispose();
        var after = BenchMachine.LoadAverage();
        var md = new StringBuilder()
            .AppendLine("# Pipeline execution on local CPU devices vs the simulator")
            .AppendLine()
            .AppendLine($"- command: `{command}`")
            .AppendLine($"- machine: {BenchMachine.Describe()}; load average before: {before}, after: {after} (the cores are shared)")
            .AppendLine($"- date: {BenchMachine.Date()}; scheduling: {Scheduling()}")
            .AppendLine($"- cluster spec: measured local:1xD for each plan's D by `alpa profile`'s probe, the same spec for every plan of that D in a round; the last round's: {string.Join("; ", cache.OrderBy(c => c.Key).Select(c => $"local:1x{c.Key}: {Describe(c.Value)}"))}")
            .AppendLine($"- {Rounds} rounds, each profiling local:1x2 and local:1x4 again and then running every plan (the machine's speed drifts between minutes); a row is the plan's median round by ratio, the last column every round's ratio")
            .AppendLine($"- a plan in a round: median of {Steps} steps after warm-up (≥ {Warmup} steps, until the median of 10 steps moves < 5%); predicted = the simulator on the executed lists")
            .AppendLine($"- garbage collector: {GcSettings()}")
            .AppendLine($"- devices vs cores: this machine has {Environment.ProcessorCount} cores; a plan with more devices than cores (marked *) runs its stages' threads in the scheduler's time slices, which the simulator's even sharing of the cores does not model")
            .AppendLine()
            .AppendLine("| plan | measured step | predicted step | measured / predicted | busiest stage: busy time measured / simulated | driver wait / step | GC pause / step | ratio in each round |")
            .AppendLine("|---|---|---|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine($"| {r.Name}{(r.Devices > Environment.ProcessorCount ? " *" : "")} | {r.MeasuredSeconds * 1e3:F1} ms | {r.PredictedSeconds * 1e3:F1} ms | {r.MeasuredSeconds / r.PredictedSeconds:F2} | stage {r.BusiestStage}: {Ratio(r.Busy)} | {100 * r.DriverWaitSeconds / r.MeasuredSeconds:F2} % | {r.GcPauseSeconds * 1e3:F2} ms | {string.Join(", ", r.RoundRatios.Select(x => x.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))} |");
        DataParallelBench.Append(md, parallel);
        AppendPath(md, path);
        return md.ToString();
    }

    /// <summary>Only the 1-stage pipeline vs SPMD comparison (for profiling it).</summary>
    public static string StagePath(ClusterSpec local4, TextWriter log)
    {
        var md = new StringBuilder();
        AppendPath(md, StagePathBench.Run(local4, 4, log));
        return md.ToString();
    }

    private static void AppendPath(StringBuilder md, (IReadOnlyList<StagePathBench.PathCost> Rows, int Different, int Heavy) path)
    {
        md.AppendLine()
          .AppendLine($"## One stage: pipeline path vs SPMD path (gpt-tiny, batch 16, mesh (1, 4), {path.Different} of {path.Heavy} heavy-op strategies differ)")
          .AppendLine()
          .AppendLine("| path | CPU / step | wall / step | allocated / step | GCs / step | collectives / step | sent bytes / device / step |")
          .AppendLine("|---|---|---|---|---|---|---|");
        foreach (var c in path.Rows)
            md.AppendLine($"| {c.Name} | {c.CpuSeconds * 1e3:F1} ms | {c.WallSeconds * 1e3:F1} ms | {c.AllocatedBytes / 1e6:F2} MB | {c.Collections:F2} | {c.Collectives:F1} | {c.CollectiveBytes / 1e3:F1} kB |");
    }

    private static Row Measure(string name, string model, Func<int, ClusterSpec> local, (int H, int D, int N0, int N1)[] meshes, int b, PipelineSchedule schedule, TextWriter log)
    {
        var cluster = local(meshes.Sum(m => m.H * m.D));
        log.WriteLine($"pipeline bench: {name} …");
        using var run = LocalPipeline.Create(ModelZoo.Get(model), cluster, meshes, b, schedule);
        var times = new List<double>();
        var waits = new List<double>();
        var busy = new List<double[]>();
        var warmup = WarmUp(run);
        var pausedBefore = GC.GetTotalPauseDuration();
        for (var step = warmup; step < warmup + Steps; step++)
        {
            run.Step(step);
            var last = run.Runner.LastStep!;
            times.Add(last.Seconds);
            waits.Add(last.Workers.Max(w => w.WaitSeconds));
            busy.Add([.. meshes.Select((_, s) => last.Events.Where(e => e.Stage == s && e.Kind is PipelineEventKind.Forward or PipelineEventKind.Backward
                                                                      or PipelineEventKind.Collective or PipelineEventKind.Update)
                                                           .Sum(e => e.EndSeconds - e.StartSeconds))]);
        }
        var paused = (GC.GetTotalPauseDuration() - pausedBefore).TotalSeconds / Steps;
        var simulated = PipelineSimulator.Simulate(run.Runner.Plan);
        var measuredBusy = meshes.Select((_, s) => Median([.. busy.Select(b => b[s])])).ToArray();
        var stage = Array.IndexOf(measuredBusy, measuredBusy.Max());
        return new Row(name, Median(times), simulated.StepSeconds, Median(waits), stage, (measuredBusy[stage], simulated.Stages[stage].BusySeconds), paused)
        {
            Devices = meshes.Sum(m => m.H * m.D),
        };
    }

    /// <summary>
    /// Steps until the step time settles — the JIT promotes hot code in the background (tier 0,
    /// instrumented, optimized), which takes dozens of steps on 2 cores: chunks of 10 steps until a
    /// chunk's median is within 5% of the previous one's, at least <see cref="Warmup"/> steps, at most
    /// 20 s. Returns the number of steps run.
    /// </summary>
    private static int WarmUp(LocalPipeline run)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var previous = double.PositiveInfinity;
        var step = 0;
        while (clock.Elapsed.TotalSeconds < 20)
        {
            var chunk = new List<double>();
            for (var i = 0; i < 10; i++, step++)
            {
                run.Step(step);
                chunk.Add(run.Runner.LastStep!.Seconds);
            }
            var median = Median(chunk);
            if (step >= Warmup && Math.Abs(median - previous) <= 0.05 * previous) break;
            previous = median;
        }
        return step;
    }

    /// <summary>The first generation's budget as the environment sets it (<c>./alpa</c> sets 64 MB), and the collector's mode.</summary>
    private static string GcSettings()
    {
        var gen0 = Environment.GetEnvironmentVariable("DOTNET_GCgen0size");
        var budget = gen0 is null ? "default first-generation budget" : $"DOTNET_GCgen0size={gen0}";
        return $"{budget}, {(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")} GC";
    }

    /// <summary>The process's nice value and its scheduler group's (raised priorities make a loaded machine quieter for the run: say so).</summary>
    private static string Scheduling()
    {
        try
        {
            var stat = File.ReadAllText("/proc/self/stat");
            var nice = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[16];
            var group = File.Exists("/proc/self/autogroup") ? File.ReadAllText("/proc/self/autogroup").Trim() : "none";
            return $"nice {nice}, autogroup {group}";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Ratio((double Measured, double Predicted) run) =>
        $"{run.Measured * 1e3:F2} / {run.Predicted * 1e3:F2} ms";

    private static string Describe(ClusterSpec c)
    {
        var r = c.Overheads;
        return $"GEMM {c.Device.PeakF32Flops / 1e9:F1} GFLOP/s per device, element-wise {c.Device.MemoryBytesPerSecond / 1e9:F1} GB/s, " +
               $"per op {r.OpSeconds * 1e6:F1} µs, per GEMM call +{r.MatmulSeconds * 1e6:F1} µs, per instruction {r.InstructionSeconds * 1e6:F1} µs, " +
               $"per RUN +{r.RunSeconds * 1e6:F1} µs, per transfer +{r.TransferSeconds * 1e6:F1} µs, vector ops {r.VectorFlops / 1e9:F1} GFLOP/s, " +
               $"per-kind rates of {r.OpFlops.Count + r.OpBytesPerSecond.Count} op kinds (e.g. MatMul {Rate(r.OpFlops, Planner.Graph.OpKind.MatMul)}, ReduceSum {Rate(r.OpFlops, Planner.Graph.OpKind.ReduceSum)} GFLOP/s), devices share {r.SharedCores} cores";
    }

    private static string Rate(IReadOnlyDictionary<Planner.Graph.OpKind, double> rates, Planner.Graph.OpKind kind) =>
        rates.TryGetValue(kind, out var r) ? $"{r / 1e9:F1}" : "-";

    private static double Median(List<double> xs) => xs.Order().ElementAt(xs.Count / 2);

    /// <summary>The round whose measured / predicted ratio is the median, with every round's ratio.</summary>
    private static Row MedianRound(List<Row> rounds) =>
        rounds.OrderBy(r => r.MeasuredSeconds / r.PredictedSeconds).ElementAt(rounds.Count / 2) with
        {
            RoundRatios = [.. rounds.Select(r => r.MeasuredSeconds / r.PredictedSeconds)],
        };
}
