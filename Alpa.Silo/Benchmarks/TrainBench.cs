using System.Diagnostics;
using System.Globalization;
using System.Text;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Training;

namespace Alpa.Silo.Benchmarks;

/// <summary>Result of <see cref="TrainBench.Run"/>.</summary>
public sealed record TrainBenchResult
{
    public required string Model { get; init; }
    /// <summary>Median seconds of one training step (forward, backward, Adam) after warm-up.</summary>
    public required double StepSeconds { get; init; }
    /// <summary>Model FLOPs of one step (what the training graph executes).</summary>
    public required double FlopsPerStep { get; init; }
    /// <summary>FLOPs of the step's matmul-class ops alone.</summary>
    public required double MatmulFlopsPerStep { get; init; }
    /// <summary>cblas_sgemm 2048³ with all cores, measured in the same run (best of 5).</summary>
    public required double GemmFlopsPerSecond { get; init; }
    /// <summary>Per op kind: (seconds, FLOPs) of the last step.</summary>
    public required IReadOnlyList<(string Op, int Nodes, double Seconds, double Flops)> Breakdown { get; init; }
    public double ModelFlopsPerSecond => FlopsPerStep / StepSeconds;
    /// <summary>Model-FLOPs utilization relative to the measured GEMM rate.</summary>
    public double Utilization => ModelFlopsPerSecond / GemmFlopsPerSecond;
}

/// <summary>
/// Model-FLOPs utilization of a CPU training step (issue: GPT with hidden 256, 4 layers, seq 128,
/// batch 8), relative to the GEMM rate of this machine measured in the same run.
/// </summary>
public static class TrainBench
{
    public static GptSpec DefaultModel => new()
    {
        Name = "gpt-h256-l4-s128-b8", Batch = 8, Hidden = 256, Layers = 4, Heads = 4, SeqLen = 128, Vocab = 1024,
    };

    public static TrainBenchResult Run(ModelSpec? spec = null, int steps = 12)
    {
        spec ??= DefaultModel;
        var model = spec.Build();
        var training = TrainingGraph.Build(model, new TrainingOptions());
        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, training, device, 0, profile: true);
        var data = new SyntheticData(model, 0);
        var times = new List<double>();
        for (var step = 0; step < steps; step++)
        {
            var batch = data.Batch(step);
            var t = Stopwatch.GetTimestamp();
            runner.TrainStep(batch, 1e-3f, step + 1);
            if (step >= 2) times.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        times.Sort();
        var last = runner.LastStep!;
        return new TrainBenchResult
        {
            Model = spec.Name,
            StepSeconds = times[times.Count / 2],
            FlopsPerStep = training.Flops,
            MatmulFlopsPerStep = training.Nodes.Where(n => Planner.Graph.OpCosts.IsMatmulClass(n.Op)).Sum(n => n.Flops),
            GemmFlopsPerSecond = BenchMachine.GemmFlops(2048, 5),
            Breakdown = last.ByOpKind.Where(k => k.Seconds > 0).Select(k => (k.Op.ToString(), k.Count, k.Seconds, k.Flops)).ToArray(),
        };
    }

    /// <summary>Writes bench/results/train-mfu.md and returns its path.</summary>
    public static string Write(TrainBenchResult r, string command, string load)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# CPU training step: model-FLOPs utilization");
        sb.AppendLine();
        sb.AppendLine(inv, $"- command: `{command}`");
        sb.AppendLine(inv, $"- date: {BenchMachine.Date()}");
        sb.AppendLine(inv, $"- machine: {BenchMachine.Describe()}");
        sb.AppendLine(inv, $"- load average (1, 5, 15 min): {load} (a 1-minute figure above the core count means other processes shared the cores)");
        sb.AppendLine(inv, $"- model: {r.Model}; training step = forward + backward + Adam, f32, one CPU device");
        sb.AppendLine();
        sb.AppendLine(inv, $"| step (median) | model FLOPs/step | model FLOP/s | GEMM 2048³ FLOP/s (same run) | utilization |");
        sb.AppendLine("|---:|---:|---:|---:|---:|");
        sb.AppendLine(inv, $"| {r.StepSeconds * 1e3:F1} ms | {r.FlopsPerStep / 1e9:F2} G | {r.ModelFlopsPerSecond / 1e9:F1} G | {r.GemmFlopsPerSecond / 1e9:F1} G | {r.Utilization:P1} |");
        sb.AppendLine();
        sb.AppendLine("Time per op kind in the last step:");
        sb.AppendLine();
        sb.AppendLine("| op | nodes | ms | GFLOP/s |");
        sb.AppendLine("|---|---:|---:|---:|");
        foreach (var (op, nodes, seconds, flops) in r.Breakdown)
            sb.AppendLine(inv, $"| {op} | {nodes} | {seconds * 1e3:F2} | {flops / seconds / 1e9:F1} |");
        var path = Path.Combine(BenchMachine.ResultsFolder(), "train-mfu.md");
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
