using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Execution.Bench;

/// <summary>What <see cref="OverheadProbe"/> measured on this machine.</summary>
public sealed record OverheadMeasurement
{
    /// <summary>The fixed costs, as the cluster spec carries them.</summary>
    public required RuntimeOverheads Overheads { get; init; }
    /// <summary>GEMM rate of one device while all devices are busy, fitted on the small products tiny models run, FLOP/s.</summary>
    public required double GemmFlops { get; init; }
    /// <summary>Element-wise streaming rate of one device on 256 KiB tensors (bytes read + written per second).</summary>
    public required double StreamBytesPerSecond { get; init; }
    /// <summary>Per matmul op of an n×n×n product: seconds beyond <see cref="RuntimeOverheads.OpSeconds"/> (the fitted points).</summary>
    public required IReadOnlyList<(int N, double Seconds)> Matmuls { get; init; }
}

/// <summary>
/// Measures the fixed costs the runtime pays per op, per GEMM call, per instruction, per RUN and per
/// boundary transfer, and the rates of the small kernels tiny models run, on the real executor
/// (<see cref="SpmdExecutor"/>) and interpreter (<see cref="Pipeline.MeshWorker"/>), with as many
/// devices busy at once as the cluster has (they share the cores, so every figure is per device
/// while sharing):
/// <list type="bullet">
/// <item>per op: graphs of independent <c>Scale</c> ops on 8×8 tensors (the kernel itself is a few
/// nanoseconds), one graph per device, run concurrently: time per node;</item>
/// <item>GEMM: graphs of n×n·n×n products, n = 32…512; per node minus the op cost is fitted as
/// <c>α + FLOPs / R</c>: R from the largest product, α (the GEMM call's fixed cost) from the others;</item>
/// <item>streaming: <c>Scale</c> on 256 KiB tensors (the size of tiny models' activations and weights): bytes moved / (time per node − op cost);</item>
/// <item>interpreter: <see cref="InterpreterProbe"/> runs a real pipeline of a tiny MLP.</item>
/// </list>
/// </summary>
public static class OverheadProbe
{
    private static readonly int[] MatmulSizes = [32, 64, 128, 256, 512];
    private const int OpChain = 200, StreamRows = 64, StreamCols = 1024;
    private const double SampleSeconds = 0.02;

    /// <summary>Measures the spec's devices and returns the spec with the measured rates and fixed costs.</summary>
    public static ClusterSpec Calibrate(ClusterSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Apply(spec, Measure(spec));
    }

    /// <summary>The spec with <paramref name="m"/>'s rates and fixed costs.</summary>
    public static ClusterSpec Apply(ClusterSpec spec, OverheadMeasurement m)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(m);
        return (spec with
        {
            Device = spec.Device with { PeakF32Flops = m.GemmFlops, PeakHalfFlops = m.GemmFlops, MemoryBytesPerSecond = m.StreamBytesPerSecond },
            Overheads = m.Overheads,
        }).Validate();
    }

    public static OverheadMeasurement Measure(ClusterSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var devices = spec.Devices;
        var op = PerNode(spec, devices, b => Scales(b, 8, 8, OpChain));
        var matmuls = MatmulSizes
            .Select(n => (N: n, Seconds: Math.Max(1e-9, PerNode(spec, devices, b => Products(b, n, Count(n))) - op)))
            .ToArray();
        var (alpha, rate) = Fit([.. matmuls.Select(p => (2.0 * p.N * p.N * p.N, p.Seconds))]);
        var streamSeconds = Math.Max(1e-9, PerNode(spec, devices, b => Scales(b, StreamRows, StreamCols, 16)) - op);
        var stream = 2.0 * StreamRows * StreamCols * sizeof(float) / streamSeconds;
        var measured = new OverheadMeasurement
        {
            Overheads = new RuntimeOverheads { OpSeconds = op, MatmulSeconds = alpha },
            GemmFlops = rate,
            StreamBytesPerSecond = stream,
            Matmuls = matmuls,
        };
        var interpreter = InterpreterProbe.Measure(Apply(spec, measured));
        return measured with
        {
            Overheads = measured.Overheads with
            {
                InstructionSeconds = interpreter.InstructionSeconds,
                RunSeconds = interpreter.RunSeconds,
                TransferSeconds = interpreter.TransferSeconds,
            },
        };
    }

    /// <summary>Products per graph: enough work for a stable time, at least 4.</summary>
    private static int Count(int n) => (int)Math.Clamp(64e6 / (2.0 * n * n * n), 4, 200);

    /// <summary><paramref name="count"/> independent <c>Scale</c> ops of one [rows, cols] input.</summary>
    private static Graph Scales(GraphBuilder b, int rows, int cols, int count)
    {
        var x = b.Input("x", new Shape(rows, cols));
        var outputs = Enumerable.Range(0, count).Select(i => b.Scale(x, 0.5, $"y{i}")).ToArray();
        return b.Build([outputs[^1]]);
    }

    /// <summary><paramref name="count"/> independent n×n·n×n products of one input and one weight.</summary>
    private static Graph Products(GraphBuilder b, int n, int count)
    {
        var x = b.Input("x", new Shape(n, n));
        var w = b.Parameter("w", new Shape(n, n));
        var outputs = Enumerable.Range(0, count).Select(i => b.MatMul(x, w, name: $"y{i}")).ToArray();
        return b.Build([outputs[^1]]);
    }

    /// <summary>
    /// Seconds per non-leaf node of the graph, run on a (1, 1) mesh by <paramref name="devices"/>
    /// executors at once (one thread each); the median over threads of their median sample.
    /// </summary>
    private static double PerNode(ClusterSpec spec, int devices, Func<GraphBuilder, Graph> build)
    {
        var graph = build(new GraphBuilder());
        var plan = IntraOpPass.Run(graph, LogicalMesh.Create(spec.WithShape(1, 1), 1, 1));
        var inputs = graph.Inputs.ToDictionary(n => n.Name,
            n => HostTensor.FromFloats(ElementType.F32, Enumerable.Repeat(0.25f, (int)n.Shape.Elements).ToArray(), n.Shape.ToArray()), StringComparer.Ordinal);
        var nodes = graph.Nodes.Count(n => !n.IsLeaf);
        var perThread = new double[devices];
        using var start = new Barrier(devices);
        var threads = Enumerable.Range(0, devices).Select(t => new Thread(() =>
        {
            using var exec = new SpmdExecutor(graph, plan, (ulong)t);
            var t0 = Stopwatch.GetTimestamp();
            exec.Run(inputs);
            // Each timed sample spans ≥ 20 ms, like a training step: on a shared machine it then sees
            // the same share of the cores as the steps it predicts (short samples dodge preemption).
            var runs = (int)Math.Clamp(SampleSeconds / Stopwatch.GetElapsedTime(t0).TotalSeconds, 1, 1000);
            start.SignalAndWait();
            var times = new double[5];
            for (var rep = 0; rep < times.Length; rep++)
            {
                var t1 = Stopwatch.GetTimestamp();
                for (var i = 0; i < runs; i++) exec.Run(inputs);
                times[rep] = Stopwatch.GetElapsedTime(t1).TotalSeconds / runs;
            }
            perThread[t] = Median(times) / nodes;
        }) { IsBackground = true }).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        return Median(perThread);
    }

    /// <summary>
    /// t = α + x / R from points sorted by x: R from the largest product (where α hardly matters), α the
    /// median of what the smaller ones take beyond x / R (≥ 0). Robust to one noisy point, unlike a
    /// least-squares slope.
    /// </summary>
    internal static (double Alpha, double Rate) Fit(IReadOnlyList<(double X, double T)> points)
    {
        var largest = points.MaxBy(p => p.X);
        var rate = largest.X / largest.T;
        var alpha = Median([.. points.Where(p => p.X < largest.X).Select(p => Math.Max(0, p.T - p.X / rate))]);
        return (alpha, rate);
    }

    internal static double Median(IReadOnlyList<double> xs)
    {
        var sorted = xs.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
