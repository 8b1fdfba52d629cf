using System.Diagnostics;
using System.Globalization;
using System.Text;
using Alpa.Kernels;
using Alpa.Planner.Sharding;
using Alpa.Planner.Training;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Training;

namespace Alpa.Silo.Benchmarks;

/// <summary>Options of <c>alpa bench checkpoint</c>.</summary>
public sealed record CheckpointBenchOptions
{
    /// <summary>Bytes of the synthetic sharded checkpoint (distinct blocks).</summary>
    public long Bytes { get; init; } = 256L << 20;
    /// <summary>Repetitions of each throughput measurement (the median is reported).</summary>
    public int Repetitions { get; init; } = 3;
    /// <summary>Training steps per phase of the slowdown measurement.</summary>
    public int Steps { get; init; } = 12;
    /// <summary>Checkpoint interval during the slowdown measurement.</summary>
    public int Every { get; init; } = 4;
    /// <summary>Scratch directory (deleted afterwards).</summary>
    public string Scratch { get; init; } = Path.Combine(Path.GetTempPath(), "alpa-bench-checkpoint");
}

/// <summary>Measured figures of <c>alpa bench checkpoint</c>.</summary>
/// <param name="Bytes">Bytes saved and restored.</param>
/// <param name="SaveSeconds">Median save (write, fsync, manifest commit) of the sharded checkpoint.</param>
/// <param name="PlainWriteSeconds">Median sequential write + fsync of the same bytes into one file.</param>
/// <param name="RestoreSeconds">Median restore: open, then every block read, verified and placed once onto another mesh.</param>
/// <param name="PlainReadSeconds">Median sequential read of the plain file.</param>
/// <param name="StepSeconds">Mean training step without checkpoints.</param>
/// <param name="StepSecondsAsync">Mean training step while saving in the background every <c>Every</c> steps (snapshot copies included).</param>
/// <param name="StepSecondsSync">Mean training step when each save blocks training.</param>
/// <param name="TrainingCheckpointBytes">Bytes of the training run's checkpoint.</param>
public sealed record CheckpointBenchResult(long Bytes, double SaveSeconds, double PlainWriteSeconds, double RestoreSeconds, double PlainReadSeconds,
                                           double StepSeconds, double StepSecondsAsync, double StepSecondsSync, long TrainingCheckpointBytes)
{
    /// <summary>Median of the open (manifest + file sizes) part of <see cref="RestoreSeconds"/>.</summary>
    public double OpenSeconds { get; init; }
    /// <summary>Median process CPU seconds of save, plain write, restore, plain read.</summary>
    public IReadOnlyList<double> CpuSeconds { get; init; } = [0, 0, 0, 0];
}

/// <summary>
/// Save and restore throughput of sharded checkpoints against a plain sequential file of the same
/// bytes in the same run, and the training slowdown while a save runs in the background.
/// </summary>
public static class CheckpointBench
{
    public static CheckpointBenchResult Run(CheckpointBenchOptions options, TextWriter progress)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        if (Directory.Exists(options.Scratch)) Directory.Delete(options.Scratch, recursive: true);
        Directory.CreateDirectory(options.Scratch);
        try
        {
            var snapshot = Synthetic(options.Bytes);
            var (save, plainWrite, restore, plainRead, open) = (new Timings(), new Timings(), new Timings(), new Timings(), new List<double>());
            for (var rep = 0; rep < options.Repetitions; rep++)
            {
                progress.WriteLine($"throughput {rep + 1}/{options.Repetitions}: {snapshot.Bytes >> 20} MiB");
                var dir = Path.Combine(options.Scratch, $"ckpt-{rep}");
                using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = dir }))
                    save.Measure(() => writer.Save(snapshot));
                var plain = Path.Combine(options.Scratch, $"plain-{rep}.bin");
                plainWrite.Measure(() => PlainWrite(plain, snapshot.Bytes));
                restore.Measure(() => open.Add(Restore(dir)));
                plainRead.Measure(() => PlainRead(plain));
            }
            progress.WriteLine("training slowdown: gpt h256 l4, Adam, one CPU device");
            var (plainStep, asyncStep, syncStep, trainBytes) = options.Steps > 0 ? Training(options) : (0, 0, 0, 0);
            return new CheckpointBenchResult(snapshot.Bytes, Median(save.Wall), Median(plainWrite.Wall), Median(restore.Wall), Median(plainRead.Wall),
                                             plainStep, asyncStep, syncStep, trainBytes)
            {
                OpenSeconds = Median(open),
                CpuSeconds = [Median(save.Cpu), Median(plainWrite.Cpu), Median(restore.Cpu), Median(plainRead.Cpu)],
            };
        }
        finally
        {
            Directory.Delete(options.Scratch, recursive: true);
        }
    }

    /// <summary>4 MiB tensors on a (2, 2) mesh under three specs (one replicated along an axis: written once).</summary>
    private static CheckpointSnapshot Synthetic(long bytes)
    {
        var mesh = new MeshShape(2, 2);
        string[][] specs = [["S0", "S1"], ["S01", "R"], ["R", "S1"]];
        var tensors = new List<SnapshotTensor>();
        long total = 0;
        for (var i = 0; total < bytes; i++)
        {
            var layout = new TensorLayout([1024, 1024], ShardingSpec.Parse(specs[i % specs.Length]), mesh);
            var shards = new HostTensor?[mesh.Devices];
            foreach (var (rank, tile) in TileGeometry.UniqueTiles(layout))
            {
                var v = new float[tile.Elements];
                for (var k = 0; k < v.Length; k++) v[k] = (k * 31 + i) % 977 * 1e-3f;
                shards[rank] = HostTensor.FromFloats(v, tile.Extent);
                total += v.Length * 4L;
            }
            tensors.Add(new SnapshotTensor($"t{i}", "parameter", "f32", layout, shards));
        }
        return new CheckpointSnapshot { Step = 1, DataPosition = 1, RngSeed = 0, Tensors = tensors };
    }

    /// <summary>
    /// Opens the newest checkpoint (manifest, file sizes) and reads every tensor onto a (1, 4) mesh split by
    /// columns, each stored block read, verified and placed once (the path a restore takes).
    /// </summary>
    private static double Restore(string directory)
    {
        var clock = Stopwatch.StartNew();
        var checkpoint = Checkpoint.Open(CheckpointStore.Committed(directory)[0].Path, verify: false);
        var open = clock.Elapsed.TotalSeconds;
        var mesh = new MeshShape(1, 4);
        foreach (var name in checkpoint.Names)
            checkpoint.ReadShards(name, new TensorLayout(checkpoint.Entry(name).Shape, ShardingSpec.Parse(["R", "S1"]), mesh));
        return open;
    }

    private static void PlainWrite(string path, long bytes)
    {
        var chunk = new byte[1 << 20];
        Array.Fill(chunk, (byte)7);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (long done = 0; done < bytes; done += chunk.Length) stream.Write(chunk, 0, (int)Math.Min(chunk.Length, bytes - done));
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Reads the whole file into one new array (a restore from a plain file must hold the bytes too).</summary>
    private static void PlainRead(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        var all = GC.AllocateUninitializedArray<byte>((int)stream.Length);
        stream.ReadExactly(all);
    }

    /// <summary>Mean step time without checkpoints, with background saves and with blocking saves (alternating phases twice).</summary>
    private static (double Plain, double Async, double Sync, long Bytes) Training(CheckpointBenchOptions options)
    {
        var model = TrainBench.DefaultModel.Build();
        var training = TrainingGraph.Build(model, new TrainingOptions());
        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, training, device, 0);
        var data = new SyntheticData(model, 0);
        var times = new Dictionary<string, List<double>> { ["plain"] = [], ["async"] = [], ["sync"] = [] };
        long bytes = 0;
        var step = 0;
        runner.TrainStep(data.Batch(step), 1e-3f, ++step); // warm-up
        for (var round = 0; round < 2; round++)
        {
            foreach (var mode in times.Keys)
            {
                var dir = Path.Combine(options.Scratch, $"train-{mode}-{round}");
                using var writer = new CheckpointWriter(new CheckpointOptions { Directory = dir, Keep = 2 });
                var clock = Stopwatch.StartNew();
                for (var i = 1; i <= options.Steps; i++)
                {
                    runner.TrainStep(data.Batch(step), 1e-3f, ++step);
                    if (mode == "plain" || i % options.Every != 0) continue;
                    var (snapshot, copy) = CheckpointIO.Capture(runner, step, 0, new Dictionary<string, string>());
                    bytes = snapshot.Bytes;
                    if (mode == "async") writer.SaveInBackground(snapshot, copy);
                    else writer.Save(snapshot, copy);
                }
                writer.Flush();
                times[mode].Add(clock.Elapsed.TotalSeconds / options.Steps);
            }
        }
        return (times["plain"].Average(), times["async"].Average(), times["sync"].Average(), bytes);
    }

    /// <summary>Wall-clock and process CPU seconds of repeated runs (CPU time is what a loaded, shared machine distorts least).</summary>
    private sealed class Timings
    {
        public List<double> Wall { get; } = [];
        public List<double> Cpu { get; } = [];

        public void Measure(Action action)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var t = Stopwatch.GetTimestamp();
            action();
            Wall.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            Cpu.Add((Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds);
        }
    }

    private static double Median(List<double> xs)
    {
        xs.Sort();
        return xs[xs.Count / 2];
    }

    /// <summary>Writes bench/results/checkpoint.md and returns its path.</summary>
    public static string Write(CheckpointBenchResult r, CheckpointBenchOptions o, string command, string load)
    {
        var inv = CultureInfo.InvariantCulture;
        double MiBs(long bytes, double s) => bytes / s / (1 << 20);
        var sb = new StringBuilder();
        sb.AppendLine("# Checkpoints: save/restore throughput and training slowdown");
        sb.AppendLine();
        sb.AppendLine(inv, $"- command: `{command}`");
        sb.AppendLine(inv, $"- date: {BenchMachine.Date()}");
        sb.AppendLine(inv, $"- machine: {BenchMachine.Describe()}");
        sb.AppendLine(inv, $"- load average (1, 5, 15 min): {load} (above the core count: other processes shared the cores and the disk)");
        sb.AppendLine(inv, $"- checkpoint: {r.Bytes >> 20} MiB of distinct blocks, 4 MiB tensors on a (2, 2) mesh, 4 shard files written concurrently, XxHash3 per block, fsync of files and directories; median of {o.Repetitions}");
        sb.AppendLine("- restore: open (manifest + file sizes), then every tensor resharded onto a (1, 4) mesh, each stored block read, XxHash3-verified and placed once; plain: one sequential read into one new array. Both read through the page cache (the files were just written; caches are not dropped on a shared machine).");
        sb.AppendLine();
        var cpu = r.CpuSeconds;
        sb.AppendLine("| operation | wall s | MiB/s | CPU s | plain file, same bytes: wall s | MiB/s | CPU s | throughput ratio, wall (goal ≥ 70%) | ratio, CPU time |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        sb.AppendLine(inv, $"| save | {r.SaveSeconds:F3} | {MiBs(r.Bytes, r.SaveSeconds):F0} | {cpu[0]:F3} | {r.PlainWriteSeconds:F3} | {MiBs(r.Bytes, r.PlainWriteSeconds):F0} | {cpu[1]:F3} | {r.PlainWriteSeconds / r.SaveSeconds:P0} | {cpu[1] / cpu[0]:P0} |");
        sb.AppendLine(inv, $"| restore | {r.RestoreSeconds:F3} | {MiBs(r.Bytes, r.RestoreSeconds):F0} | {cpu[2]:F3} | {r.PlainReadSeconds:F3} | {MiBs(r.Bytes, r.PlainReadSeconds):F0} | {cpu[3]:F3} | {r.PlainReadSeconds / r.RestoreSeconds:P0} | {cpu[3] / cpu[2]:P0} |");
        sb.AppendLine(inv, $"| … of which open (manifest + sizes) | {r.OpenSeconds:F3} | {MiBs(r.Bytes, r.OpenSeconds):F0} | | | | | | |");
        if (r.StepSeconds == 0) return Save(sb);
        sb.AppendLine();
        sb.AppendLine(inv, $"Training slowdown (gpt h256 l4 s128 b8, Adam, one CPU device; checkpoint of {r.TrainingCheckpointBytes / (double)(1 << 20):F1} MiB every {o.Every} steps; mean over 2 × {o.Steps} steps per mode, modes alternating):");
        sb.AppendLine();
        sb.AppendLine("| mode | ms/step | slowdown (aim ≤ 10%) |");
        sb.AppendLine("|---|---:|---:|");
        sb.AppendLine(inv, $"| no checkpoints | {r.StepSeconds * 1e3:F1} | — |");
        sb.AppendLine(inv, $"| background save | {r.StepSecondsAsync * 1e3:F1} | {r.StepSecondsAsync / r.StepSeconds - 1:P1} |");
        sb.AppendLine(inv, $"| blocking save | {r.StepSecondsSync * 1e3:F1} | {r.StepSecondsSync / r.StepSeconds - 1:P1} |");
        return Save(sb);
    }

    private static string Save(StringBuilder sb)
    {
        var path = Path.Combine(BenchMachine.ResultsFolder(), "checkpoint.md");
        File.WriteAllText(path, sb.ToString());
        return path;
    }
}
