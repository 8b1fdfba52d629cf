using System.Diagnostics;
using System.Text;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Bench;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;

namespace Alpa.Silo.Benchmarks;

/// <summary>
/// Data-parallel throughput on 2 local devices vs 1 (one whole-graph ILP step with parameters
/// replicated and the batch split): the devices of the mesh run their kernels concurrently; with one
/// BLAS thread per GEMM each device computes on its own core, with all threads per GEMM the devices
/// take turns on GEMMs.
/// </summary>
public static class DataParallelBench
{
    /// <summary>Samples per second of one model: 1 device (all cores per GEMM), 2 devices (all cores per GEMM, taking turns), 2 devices (one core each).</summary>
    public sealed record Row(string Model, double One, double TwoShared, double TwoConcurrent);

    // Tiered JIT: the first runner measured would otherwise run tier-0 code; warm every runner well.
    private const int Warmup = 20, Steps = 5;

    public static IReadOnlyList<Row> Run(ClusterSpec cluster, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(log);
        var wide = new MlpSpec { Name = "mlp-wide (h 512, ffn 2048, 4 blocks, batch 256)", Batch = 256, DType = DType.F32, Layers = 4, Hidden = 512, Ffn = 2048 };
        return [Measure(ModelZoo.Get("gpt-tiny"), cluster, log), Measure(wide, cluster, log)];
    }

    public static void Append(StringBuilder md, IReadOnlyList<Row> rows)
    {
        ArgumentNullException.ThrowIfNull(md);
        ArgumentNullException.ThrowIfNull(rows);
        md.AppendLine()
          .AppendLine("## Data parallel: 2 local devices vs 1 (whole-graph ILP step, parameters replicated, batch split; devices run concurrently)")
          .AppendLine()
          .AppendLine("| model | 1 device (GEMM on all cores) | 2 devices, GEMMs take turns on all cores | 2 devices, one core each | best 2 vs 1 |")
          .AppendLine("|---|---|---|---|---|");
        foreach (var r in rows)
            md.AppendLine($"| {r.Model} | {r.One:F1} samples/s | {r.TwoShared:F1} samples/s | {r.TwoConcurrent:F1} samples/s | {Math.Max(r.TwoShared, r.TwoConcurrent) / r.One:F2}× |");
    }

    private static Row Measure(ModelSpec spec, ClusterSpec cluster, TextWriter log)
    {
        log.WriteLine($"data parallel bench: {spec.Name} on 1 and 2 devices …");
        var forward = spec.Build();
        var training = TrainingGraph.Build(forward, new TrainingOptions());
        var data = new SyntheticData(forward, 0);
        var pins = training.Nodes.Where(n => n.Op == OpKind.Parameter || (n.Op == OpKind.Input && n.Shape.Rank > 0))
            .ToDictionary(n => n.Name, n => (IReadOnlyList<string>)[.. n.Op == OpKind.Input ? ["S1"] : new[] { "R" }, .. Enumerable.Repeat("R", n.Shape.Rank - 1)]);
        var plan = IntraOpPass.Run(training, LogicalMesh.Create(cluster.WithShape(1, 2), 1, 2), new IntraOptions { FixedSpecs = pins });
        var saved = CpuBlas.Threads;
        using var device = LocalStepRunner.CreateCpuDevice();
        using var single = new LocalStepRunner(forward, training, device, 0);
        using var sharded = new SpmdStepRunner(forward, training, plan, 0);
        try
        {
            CpuBlas.SetThreads(Environment.ProcessorCount);
            var one = spec.Batch / StepSeconds(single, data);
            var shared = spec.Batch / StepSeconds(sharded, data);
            using var twoCores = LocalCores.Share(2);
            return new Row(spec.Name, one, shared, spec.Batch / StepSeconds(sharded, data));
        }
        finally
        {
            CpuBlas.SetThreads(saved);
        }
    }

    /// <summary>
    /// Median step time after warm-up: steps in chunks of 5 until a chunk's median is within 5% of the
    /// previous one's (at least <see cref="Warmup"/> steps, at most 15 s), so that the JIT has promoted
    /// the runner's hot code; earlier runs compared a cold runner with a warm one.
    /// </summary>
    private static double StepSeconds(IStepRunner runner, SyntheticData data)
    {
        var step = 0;
        double Chunk(int count)
        {
            var times = new List<double>();
            for (var i = 0; i < count; i++, step++)
            {
                var t = Stopwatch.GetTimestamp();
                runner.TrainStep(data.Batch(step), 1e-3f, step + 1);
                times.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            }
            return OverheadProbe.Median(times);
        }
        var clock = Stopwatch.StartNew();
        var previous = double.PositiveInfinity;
        while (clock.Elapsed.TotalSeconds < 15)
        {
            var median = Chunk(5);
            if (step >= Warmup && Math.Abs(median - previous) <= 0.05 * previous) break;
            previous = median;
        }
        return Chunk(Steps);
    }
}
