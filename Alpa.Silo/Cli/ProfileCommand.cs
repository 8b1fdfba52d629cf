using System.Diagnostics;
using System.Text.Json;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// <c>alpa profile --cluster local:HxD [--out cluster.json] [--json]</c>: measures the local devices
/// (GEMM and memory-bound rates shared by the devices, loopback between "hosts", memory) through
/// <see cref="LocalClusterProbe"/>, fits the in-process all-reduce curve t(bytes) = α + β·bytes over
/// D devices, and writes the cluster spec the planner and <c>alpa train --cluster FILE</c> use.
/// </summary>
internal sealed class ProfileCommand : ICommand
{
    public string Name => "profile";
    public string Summary => "measures the local CPU devices and in-process collectives and writes the local cluster spec";
    public string Usage => "alpa profile --cluster local:HxD [--out cluster.json] [--json]";
    public IReadOnlyList<CliOption> Options { get; } =
    [
        new("cluster", "local:HxD", "hosts × devices of this machine to profile (default local:1x2)"),
        new("out", "FILE", "write the cluster spec JSON to FILE (use it as --cluster FILE with plan and train)"),
    ];
    public (int Min, int Max) Positionals => (0, 0);

    private static readonly long[] Sizes = [4 << 10, 64 << 10, 512 << 10, 2 << 20, 8 << 20];

    public int Run(CommandArgs args, CliContext context)
    {
        var name = ClusterName.Parse(args.Value("cluster") ?? "local:1x2");
        if (name.Name != BuiltInClusters.Local)
            throw new UsageException($"--cluster must be local:HxD (this machine), got '{name.Name}'");
        context.Err.WriteLine($"measuring GEMM, copy and loopback rates and the runtime's fixed costs for {name} …");
        var spec = LocalClusterProbe.Measure(name.Hosts, name.DevicesPerHost, runtime: true);
        var devices = Math.Max(2, name.DevicesPerHost);
        context.Err.WriteLine($"measuring in-process all-reduce over {devices} devices …");
        var curve = Sizes.Select(bytes => (Bytes: bytes, Seconds: AllReduceSeconds(devices, bytes))).ToArray();
        var (alpha, beta) = Fit(curve.Select(c => ((double)c.Bytes * 2 * (devices - 1) / devices, c.Seconds)).ToArray());
        spec = spec with
        {
            IntraHostBytesPerSecond = 1 / beta,
            Calibration = spec.Calibration with { IntraHostAlphaSeconds = alpha, Source = $"measured by 'alpa profile' on {Environment.MachineName} at {DateTime.UtcNow:u}" },
        };
        spec.Validate();
        var json = ClusterJson.Write(spec);
        if (args.Value("out") is { } path)
        {
            File.WriteAllText(path, json);
            context.Err.WriteLine($"cluster spec written to {path}");
        }
        if (context.Json) context.WriteJson(w => WriteJson(w, spec, curve, alpha, beta));
        else Describe(context.Out, spec, curve, alpha, beta, devices);
        return CliApp.Ok;
    }

    /// <summary>Median time of an in-process ring-equivalent all-reduce of <paramref name="bytes"/> per rank.</summary>
    private static double AllReduceSeconds(int devices, long bytes)
    {
        var cpus = Enumerable.Range(0, devices).Select(r => new CpuDevice(r)).ToArray();
        try
        {
            var collectives = new SharedMemoryCollectives(devices);
            var buffers = cpus.Select(d => d.Allocate(ElementType.F32, [bytes / 4])).ToArray();
            var ranks = Enumerable.Range(0, devices).ToArray();
            var times = new List<double>();
            for (var rep = 0; rep < 7; rep++)
            {
                var t = Stopwatch.GetTimestamp();
                collectives.AllReduce(ranks, buffers);
                times.Add(Stopwatch.GetElapsedTime(t).TotalSeconds);
            }
            foreach (var b in buffers) b.Dispose();
            return times.Order().ElementAt(times.Count / 2);
        }
        finally
        {
            foreach (var d in cpus) d.Dispose();
        }
    }

    /// <summary>Least squares t = α + β·x (α ≥ 0.1 µs: the cluster spec needs a positive latency).</summary>
    private static (double Alpha, double Beta) Fit((double X, double T)[] points)
    {
        var mx = points.Average(p => p.X);
        var mt = points.Average(p => p.T);
        var beta = points.Sum(p => (p.X - mx) * (p.T - mt)) / points.Sum(p => (p.X - mx) * (p.X - mx));
        beta = Math.Max(beta, 1e-12);
        return (Math.Max(1e-7, mt - beta * mx), beta);
    }

    private static void Describe(TextWriter o, ClusterSpec spec, (long Bytes, double Seconds)[] curve, double alpha, double beta, int devices)
    {
        o.WriteLine($"cluster      {spec.Name}:{spec.Hosts}x{spec.DevicesPerHost} ({spec.Devices} CPU devices sharing this machine's cores)");
        o.WriteLine($"gemm         {Units.Flops(spec.Device.PeakF32Flops)}/s per device");
        o.WriteLine($"memory-bound {Units.Bytes((long)spec.Device.MemoryBytesPerSecond)}/s per device (element-wise, 64 KiB tensors)");
        o.WriteLine($"loopback     {Units.Bytes((long)spec.InterHostBytesPerSecond)}/s between hosts");
        o.WriteLine($"memory       {Units.Bytes(spec.Device.MemoryBytes)} per device");
        var r = spec.Overheads;
        o.WriteLine($"runtime      per op {r.OpSeconds * 1e6:F1} µs, per GEMM call +{r.MatmulSeconds * 1e6:F1} µs, per instruction {r.InstructionSeconds * 1e6:F1} µs, per RUN +{r.RunSeconds * 1e6:F1} µs, per transfer +{r.TransferSeconds * 1e6:F1} µs, " +
                    $"vector ops {r.VectorFlops / 1e9:F1} GFLOP/s, devices share {r.SharedCores} core(s)");
        if (r.OpFlops.Count > 0)
        {
            // The slowest kinds first: where a tiny model's step goes beyond its GEMMs.
            var kinds = r.OpFlops.OrderBy(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value / 1e9:F1}");
            o.WriteLine($"op kinds     GFLOP/s in training graphs ({r.OpFlops.Count}, slowest first): {string.Join(", ", kinds)}");
        }
        if (r.SequentialSmallNodes)
            o.WriteLine($"local mesh   a node runs on the mesh's devices at once from {r.MeshConcurrentFlops / 1e6:F0} MFLOP or {Units.Bytes((long)r.MeshConcurrentBytes)} per device; smaller ones device after device");
        o.WriteLine($"all-reduce   over {devices} devices: α = {alpha * 1e6:F1} µs, 1/β = {Units.Bytes((long)(1 / beta))}/s (ring-equivalent bytes)");
        foreach (var (bytes, seconds) in curve) o.WriteLine($"  {Units.Bytes(bytes),10} {seconds * 1e6,10:F1} µs");
    }

    private static void WriteJson(Utf8JsonWriter w, ClusterSpec spec, (long Bytes, double Seconds)[] curve, double alpha, double beta)
    {
        w.WriteStartObject();
        w.WriteNumber("gemm_flops_per_device", spec.Device.PeakF32Flops);
        w.WriteNumber("copy_bytes_per_second", spec.Device.MemoryBytesPerSecond);
        w.WriteNumber("loopback_bytes_per_second", spec.InterHostBytesPerSecond);
        w.WriteNumber("allreduce_alpha_seconds", alpha);
        w.WriteNumber("allreduce_bytes_per_second", 1 / beta);
        w.WriteStartArray("allreduce");
        foreach (var (bytes, seconds) in curve)
        {
            w.WriteStartObject();
            w.WriteNumber("bytes", bytes);
            w.WriteNumber("seconds", seconds);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("cluster_spec", ClusterJson.Write(spec));
        w.WriteEndObject();
    }
}
