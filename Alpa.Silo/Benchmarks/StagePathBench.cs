using System.Diagnostics;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Cluster;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Bench;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;

namespace Alpa.Silo.Benchmarks;

/// <summary>
/// The cost of the pipeline path for one stage against the SPMD path (<c>--method intra-only</c>) on
/// the same mesh: process CPU time, wall time, managed allocations, garbage collections and
/// collectives per training step, so that any extra CPU of the pipeline path can be located.
/// </summary>
public static class StagePathBench
{
    /// <summary>What one runner cost per step (medians are over steps, CPU and allocations are means).</summary>
    public sealed record PathCost(string Name, double CpuSeconds, double WallSeconds, double AllocatedBytes, double Collections, double Collectives, double CollectiveBytes);

    private const int Warmup = 2, Steps = 10;

    /// <summary>
    /// Measures gpt-tiny (one microbatch) on a (1, n) mesh both ways, alternating the two runners, with
    /// GEMMs on all cores and with one BLAS thread (no idle OpenBLAS threads spinning between GEMMs);
    /// also reports how many heavy-op strategies the two plans choose differently.
    /// </summary>
    public static (IReadOnlyList<PathCost> Rows, int DifferentStrategies, int HeavyOps) Run(ClusterSpec cluster, int devices, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(log);
        var spec = ModelZoo.Get("gpt-tiny");
        var forward = spec.Build();
        var training = TrainingGraph.Build(forward, new TrainingOptions());
        var data = new SyntheticData(forward, 0);
        log.WriteLine($"stage path bench: gpt-tiny on mesh (1, {devices}), SPMD vs a 1-stage pipeline …");
        var plan = IntraOpPass.Run(training, LogicalMesh.Create(cluster.WithShape(1, devices), 1, devices));
        using var runner = new SpmdStepRunner(forward, training, plan, 0);
        using var pipeline = LocalPipeline.Create(spec, cluster.WithShape(1, devices), [(1, devices, 1, devices)], 1, PipelineSchedule.OneFOneB);
        var comm = pipeline.Runner.Workers[0].Runtime.Executor.Communicator;
        var rows = new List<PathCost>();
        var (saved, cores) = (CpuBlas.Threads, Environment.ProcessorCount);
        foreach (var threads in new[] { cores, 1 })
        {
            CpuBlas.SetThreads(threads);
            try
            {
                var blas = threads == 1 ? "1 BLAS thread" : $"{threads} BLAS threads";
                rows.Add(Measure($"SPMD executor (intra-only), {blas}", s => runner.TrainStep(data.Batch(s), 1e-3f, s + 1),
                                 () => runner.LastStep!.Collectives.Count, () => runner.LastStep!.Collectives.Sum(c => c.SentBytesPerDevice)));
                rows.Add(Measure($"pipeline: 1 stage, B = 1, {blas}", pipeline.Step, () => comm.Log.Count, () => comm.Log.Sum(c => c.SentBytesPerDevice)));
            }
            finally
            {
                CpuBlas.SetThreads(saved);
            }
        }
        var chosen = pipeline.Runner.Plan.Stages[0].Strategies;
        var different = chosen.Count(kv => plan.Strategies.TryGetValue(kv.Key, out var id) && id != kv.Value);
        return (rows, different, chosen.Count);
    }

    private static PathCost Measure(string name, Action<int> step, Func<int> collectives, Func<long> bytes)
    {
        for (var s = 0; s < Warmup; s++) step(s);
        var process = Process.GetCurrentProcess();
        var cpu0 = process.TotalProcessorTime;
        var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        var gc0 = GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2);
        var walls = new List<double>();
        double count = 0, sent = 0;
        for (var s = Warmup; s < Warmup + Steps; s++)
        {
            var t = Stopwatch.GetTimestamp();
            step(s);
            walls.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            count += collectives();
            sent += bytes();
        }
        process.Refresh();
        var cpu = (process.TotalProcessorTime - cpu0).TotalSeconds / Steps;
        var alloc = (GC.GetTotalAllocatedBytes(precise: true) - alloc0) / (double)Steps;
        var gcs = (GC.CollectionCount(0) + GC.CollectionCount(1) + GC.CollectionCount(2) - gc0) / (double)Steps;
        return new PathCost(name, cpu, OverheadProbe.Median(walls), alloc, gcs, count / Steps, sent / Steps);
    }
}
