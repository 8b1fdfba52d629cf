using Alpa.Planner.Models;
using Alpa.Silo.Benchmarks;
using Alpa.Silo.Execution.Bench;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa bench SUITE</c>: benchmark suites; each writes its results, with the command, machine
/// and date, into bench/results/.
/// </summary>
internal sealed class BenchCommand : ICommand
{
    /// <summary>Suite name → (summary, runner). Add suites here.</summary>
    private static readonly IReadOnlyDictionary<string, (string Summary, Func<CommandArgs, CliContext, int> Run)> Suites =
        new Dictionary<string, (string, Func<CommandArgs, CliContext, int>)>(StringComparer.Ordinal)
        {
            ["gemm"] = ("GEMM rate of the shapes the models run vs cblas_sgemm and the FMA peak", Gemm),
            ["train"] = ("model-FLOPs utilization of a CPU training step (GPT h256, 4 layers, seq 128, batch 8)", Train),
            ["plan"] = ("planning time on the paper's weak-scaling series (--only MODEL to run one)", Plan),
            ["intra"] = ("intra-op pass on a 6-layer slice of GPT-39B (training graph) on 8 V100s, every logical mesh", Intra),
            ["paper"] = ("the paper's weak-scaling benchmark: auto, intra-only, inter-only and the family's baseline (--family, --cluster, --min-gpus, --max-gpus, --methods)", PaperBench.Run),
            ["serve"] = ("loopback load test of alpa serve: tokens/s, TTFT and inter-token p50/p99, continuous batching vs one request at a time (--clients, --requests)", ServeBenchCommand.Run),
            ["checkpoint"] = ("checkpoint save/restore throughput vs a plain file write, training slowdown during background saves (--mb N)", Checkpoint),
            ["cluster-checkpoint"] = ("training slowdown of a cluster job (2 silo processes, one mesh spanning both) during background vs blocking checkpoints", ClusterCheckpoint),
            ["recovery"] = ("time from a silo's death to training resumed, broken down (3 silo processes, gpt-tiny; --kills N)", Recovery),
            ["pipeline"] = ("pipeline and mesh plans on local CPU devices: measured vs simulated step, driver wait, data-parallel speed-up", Pipeline),
            ["intra-ablation"] = ("the paper's intra-op ablation on one mesh: ILP vs data, ZeRO-2, ZeRO-3, heuristic", PaperBench.Run),
            ["inter-ablation"] = ("the paper's inter-op ablation (GPT, Wide-ResNet): stage DP vs equal layers vs equal operators per stage", PaperBench.Run),
            ["reshard-ablation"] = ("the paper's cross-mesh resharding ablation (Wide-ResNet, 16-32 GPUs): with vs without local all-gather", PaperBench.Run),
        };

    public string Name => "bench";
    public string Summary => "benchmark suites: " + string.Join(", ", Suites.Keys) + ", transport, collectives, cluster (results in bench/results/)";
    public string Usage => "alpa bench SUITE [options]   (suites: " + string.Join(", ", Suites.Keys) + ", transport, collectives, cluster)";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("only", "MODEL", "plan: run only this model of the series; pipeline: 'stage-path' runs only the 1-stage pipeline vs SPMD comparison (printed, not written)"),
        new("max-gpus", "N", "plan, paper: skip models whose paper GPU count exceeds N"),
        new("min-gpus", "N", "paper: only sizes run on at least N GPUs"),
        new("family", "NAME", "paper: gpt, moe or wresnet (default: all three)"),
        new("cluster", "NAME", "paper: aws-p3.16xlarge (default) or dgx-h100"),
        new("methods", "LIST", "paper: comma-separated subset of the suite's methods"),
        new("clients", "N", "serve: concurrent streaming clients (default 8)"),
        new("requests", "N", "serve: requests per case (default 32)"),
        new("repeat", "N", "serve: runs per case, the median is reported (default 3)"),
        new("out", "DIR", "paper: where to write the results and chart (default: bench/results)"),
        new("mb", "N", "checkpoint: MiB of the synthetic checkpoint (default 256)"),
        new("kills", "N", "recovery: silo deaths to measure (default 2)"),
        new("steps", "N", "checkpoint: training steps per mode of the slowdown measurement (default 12; 0 skips it)"),
    ];
    public (int Min, int Max) Positionals => (1, 1);

    public int Run(CommandArgs args, CliContext context)
    {
        var name = args.Positionals[0];
        if (!Suites.TryGetValue(name, out var suite))
            throw new UsageException($"unknown suite '{name}': use one of {string.Join(", ", Suites.Keys)}");
        return suite.Run(args, context);
    }

    private static string Command(CommandArgs args) => "./alpa bench " + string.Join(' ', Environment.GetCommandLineArgs().Skip(2));

    private static int Gemm(CommandArgs args, CliContext context)
    {
        var result = GemmBench.Run(new GemmBenchOptions { Command = Command(args) });
        var path = Path.Combine(BenchMachine.ResultsFolder(), "gemm.md");
        File.WriteAllText(path, GemmBench.Markdown(result));
        context.Out.Write(GemmBench.Markdown(result));
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int Pipeline(CommandArgs args, CliContext context)
    {
        if (args.Value("only") == "stage-path")
        {
            context.Out.Write(PipelineBench.StagePath(LocalClusterProbe.Measure(1, 4, runtime: true), context.Err));
            return CliApp.Ok;
        }
        var md = PipelineBench.Run(d => LocalClusterProbe.Measure(1, d, runtime: true), context.Err, Command(args));
        var path = Path.Combine(BenchMachine.ResultsFolder(), "pipeline.md");
        File.WriteAllText(path, md);
        context.Out.Write(md);
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int Train(CommandArgs args, CliContext context)
    {
        var load = BenchMachine.LoadAverage();
        var r = TrainBench.Run();
        var path = TrainBench.Write(r, Command(args), $"before: {load}; after: {BenchMachine.LoadAverage()}");
        context.Out.Write(File.ReadAllText(path));
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int Checkpoint(CommandArgs args, CliContext context)
    {
        var load = BenchMachine.LoadAverage();
        var options = new CheckpointBenchOptions
        {
            Bytes = (long)args.PositiveInt("mb", 256) << 20,
            Steps = args.Value("steps") == "0" ? 0 : args.PositiveInt("steps", 12),
        };
        var r = CheckpointBench.Run(options, context.Err);
        var path = CheckpointBench.Write(r, options, Command(args), $"before: {load}; after: {BenchMachine.LoadAverage()}");
        context.Out.Write(File.ReadAllText(path));
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int ClusterCheckpoint(CommandArgs args, CliContext context)
    {
        var load = BenchMachine.LoadAverage();
        var options = new ClusterCheckpointBenchOptions();
        var rows = ClusterCheckpointBench.RunAsync(options, context.Err).GetAwaiter().GetResult();
        var path = ClusterCheckpointBench.Write(rows, options, Command(args), $"before: {load}; after: {BenchMachine.LoadAverage()}");
        context.Out.Write(File.ReadAllText(path));
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int Recovery(CommandArgs args, CliContext context)
    {
        var load = BenchMachine.LoadAverage();
        var options = new RecoveryBenchOptions { Kills = args.PositiveInt("kills", 2) };
        var (rows, step) = RecoveryBench.RunAsync(options, context.Err).GetAwaiter().GetResult();
        var path = RecoveryBench.Write(rows, step, options, Command(args), $"before: {load}; after: {BenchMachine.LoadAverage()}");
        context.Out.Write(File.ReadAllText(path));
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int Intra(CommandArgs args, CliContext context)
    {
        var load = BenchMachine.LoadAverage();
        var spec = new GptSpec
        {
            Name = "gpt-39b-6-layer-slice", Batch = 8, Hidden = 8192, Layers = 6, Heads = 64, SeqLen = 1024, Vocab = 51200,
            DType = Planner.Graph.DType.F16,
        };
        var graph = Planner.Training.TrainingGraph.Build(spec.Build(), new Planner.Training.TrainingOptions());
        var rows = Planner.Intra.IntraBench.Run(body =>
        {
            var t = System.Diagnostics.Stopwatch.GetTimestamp();
            body();
            return System.Diagnostics.Stopwatch.GetElapsedTime(t).TotalSeconds;
        }, graph);
        var text = new System.Text.StringBuilder()
            .AppendLine("# Intra-op pass: 6-layer slice of GPT-39B on aws-p3.16xlarge:1x8, every logical mesh")
            .AppendLine()
            .AppendLine($"- command: `{Command(args)}`")
            .AppendLine($"- date: {BenchMachine.Date()}")
            .AppendLine($"- machine: {BenchMachine.Describe()}")
            .AppendLine($"- load average (1, 5, 15 min) before: {load}; after: {BenchMachine.LoadAverage()}")
            .AppendLine($"- graph: the model zoo's GPT (hidden 8192, 64 heads, seq 1024, vocab 51200, f16) with 6 blocks, microbatch 8, training graph with Adam")
            .AppendLine($"- total: prepare {rows.Sum(r => r.PrepareSeconds):F2} s + CBC {rows.Sum(r => r.SolveSeconds):F2} s over {rows.Count} meshes")
            .AppendLine()
            .Append(Planner.Intra.IntraBench.Markdown(graph, rows))
            .ToString();
        var path = Path.Combine(BenchMachine.ResultsFolder(), "intra-gpt39b-slice.md");
        File.WriteAllText(path, text);
        context.Out.Write(text);
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }

    private static int Plan(CommandArgs args, CliContext context)
    {
        var only = args.Value("only");
        var maxGpus = args.PositiveInt("max-gpus", int.MaxValue);
        var series = PlanBench.PaperSeries.Where(s => (only is null || s.Model == only) && s.Hosts * s.Devices <= maxGpus).ToArray();
        if (series.Length == 0) throw new UsageException($"no model of the series matches (models: {string.Join(", ", ModelZoo.Names)})");
        var load = BenchMachine.LoadAverage();
        var log = new Progress<string>(context.Err.WriteLine);
        var rows = series.Select(s => PlanBench.Run(s.Model, s.Hosts, s.Devices, log)).ToArray();
        var path = PlanBench.Write(rows, Command(args), load, BenchMachine.LoadAverage());
        context.Out.Write(File.ReadAllText(path));
        context.Err.WriteLine($"written to {path}");
        return CliApp.Ok;
    }
}
