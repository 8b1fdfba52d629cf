using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Training;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Execution.Bench;

/// <summary>What <see cref="OverheadProbe"/> measured on this machine.</summary>
public sealed record OverheadMeasurement
{
    /// <summary>The fixed costs, as the cluster spec carries them.</summary>
    public required RuntimeOverheads Overheads { get; init; }
    /// <summary>GEMM rate of one device while no more devices than cores are busy, fitted on the small products tiny models run, FLOP/s.</summary>
    public required double GemmFlops { get; init; }
    /// <summary>Element-wise streaming rate of one device on 64 KiB tensors (bytes read + written per second).</summary>
    public required double StreamBytesPerSecond { get; init; }
    /// <summary>Per matmul op of an n×n×n product: seconds beyond <see cref="RuntimeOverheads.OpSeconds"/> (the fitted points).</summary>
    public required IReadOnlyList<(int N, double Seconds)> Matmuls { get; init; }
}

/// <summary>
/// Measures the fixed costs the runtime pays per op, per GEMM call, per instruction, per RUN and per
/// boundary transfer, and the rates of the small kernels tiny models run, on the real executor
/// (<see cref="SpmdExecutor"/>) and interpreter (<see cref="Pipeline.MeshWorker"/>), with as many
/// devices busy at once as the cluster has, up to the machine's cores: every figure is one device's
/// while it has a core of its own, and the spec says how many cores the devices share
/// (<see cref="RuntimeOverheads.SharedCores"/>) so the simulator slows devices down when more run:
/// <list type="bullet">
/// <item>per op: the training step of an MLP so narrow that its kernels cost nothing, one per device,
/// run concurrently: wall time per node;</item>
/// <item>GEMM: graphs of n×n·n×n products, n = 32…512; the executor's time per node less an 8×8 op's is fitted as
/// <c>α + FLOPs / R</c>: R from the largest product, α (the GEMM call's fixed cost) from the others;</item>
/// <item>streaming: <c>Scale</c> on 64 KiB tensors (the size of tiny models' activations and weights): bytes moved / (the executor's time per node − an 8×8 op's);</item>
/// <item>interpreter: <see cref="InterpreterProbe"/> runs a real pipeline of a tiny MLP.</item>
/// </list>
/// </summary>
public static class OverheadProbe
{
    private static readonly int[] MatmulSizes = [32, 64, 128, 256, 512];
    private const int OpChain = 200, StreamRows = 64, StreamCols = 256;
    private const double SampleSeconds = 0.02, WarmupSeconds = 0.3, FirstWarmupSeconds = 2;
    private static int s_warmed;
    private const int WarmupRuns = 100;

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
        // Local devices share this machine's cores: the rates are one device's while no more devices
        // than cores run at once, and the simulator shares the cores when more do (SharedCores).
        var cores = Environment.ProcessorCount;
        var devices = Math.Min(spec.Devices, cores);
        // The op cost is wall time per node (dispatch, bookkeeping, allocation, kernel); the size-dependent
        // parts come from the executor's own per-node times, less those of the 8×8 ops: medians over
        // nodes and samples, which a preempted sample does not move.
        var (op, _) = PerNode(spec, devices, ProbeTraining());
        var (_, tiny) = PerNode(spec, devices, b => Scales(b, 8, 8, OpChain));
        var matmuls = MatmulSizes
            .Select(n => (N: n, Seconds: Math.Max(1e-9, PerNode(spec, devices, b => Products(b, n, Count(n))).Kernel - tiny)))
            .ToArray();
        var (alpha, rate) = Fit([.. matmuls.Select(p => (2.0 * p.N * p.N * p.N, p.Seconds))]);
        var streamSeconds = Math.Max(1e-9, PerNode(spec, devices, b => Scales(b, StreamRows, StreamCols, 32)).Kernel - tiny);
        var stream = 2.0 * StreamRows * StreamCols * sizeof(float) / streamSeconds;
        var vector = VectorRate(spec, devices, tiny);
        var (kindFlops, kindBytes) = KindRates(spec, devices, tiny, alpha);
        var measured = new OverheadMeasurement
        {
            Overheads = new RuntimeOverheads
            {
                OpSeconds = op, MatmulSeconds = alpha, SharedCores = cores, VectorFlops = vector, OpFlops = kindFlops, OpBytesPerSecond = kindBytes,
                MeshConcurrentFlops = SpmdExecutor.ConcurrentFlops, MeshConcurrentBytes = SpmdExecutor.ConcurrentBytes,
            },
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

    /// <summary>
    /// FLOP/s of the vector ops tiny models spend their non-GEMM time in — GELU, softmax and layer norm
    /// on [128, 64] activations: their FLOPs (as the cost model counts them) over the executor's time
    /// per node less an 8×8 op's, summed over the three.
    /// </summary>
    private static double VectorRate(ClusterSpec spec, int devices, double tiny)
    {
        const int rows = 128, cols = 64, count = 16;
        Func<GraphBuilder, Graph>[] graphs =
        [
            b => Many(b, rows, cols, count, (b, x, i) => b.Gelu(x, $"g{i}")),
            b => Many(b, rows, cols, count, (b, x, i) => b.Softmax(x, $"s{i}")),
            b => Many(b, rows, cols, count, (b, x, i) => b.LayerNorm(x, b.Parameter($"gamma{i}", new Shape(cols)), b.Parameter($"beta{i}", new Shape(cols)), name: $"n{i}")),
        ];
        double flops = 0, seconds = 0;
        foreach (var build in graphs)
        {
            var node = build(new GraphBuilder()).Nodes.First(n => !n.IsLeaf);
            flops += node.Flops;
            seconds += Math.Max(1e-9, PerNode(spec, devices, build).Kernel - tiny);
        }
        return flops / seconds;
    }

    /// <summary>
    /// Rates of each op kind the training graphs of small models of every family run (a GPT block, an MoE block, an
    /// MLP, a wide ResNet; shapes unlike the zoo's tiny models), measured in those graphs on the real executor with
    /// the probe's devices busy: per kind, its FLOPs (or, for kinds without arithmetic, bytes read and written) over
    /// the executor's median time of its nodes less an 8×8 op's (and the GEMM call's cost for the matmul class).
    /// One vector rate cannot price them: here a column reduction runs at a fifth of GELU's rate and a tiny GEMM at
    /// two thirds of a 512³ one, while the optimizer's element-wise updates run several times faster.
    /// </summary>
    private static (Dictionary<OpKind, double> Flops, Dictionary<OpKind, double> Bytes) KindRates(ClusterSpec spec, int devices, double tiny, double alpha)
    {
        var totals = new Dictionary<OpKind, (double Flops, double Bytes, double Seconds, int Nodes)>();
        foreach (var model in CalibrationModels)
        {
            var forward = model.Build();
            var training = TrainingGraph.Build(forward, new TrainingOptions());
            var inputs = Trainer.StepInputs(new SyntheticData(forward, 0).Batch(0), 1e-4f, 1);
            var medians = NodeKernels(spec, devices, (training, inputs));
            foreach (var node in training.Nodes.Where(n => !n.IsLeaf && n.Op != OpKind.Reshape))
            {
                var seconds = Math.Max(0, medians[node.Id] - tiny - (OpCosts.IsMatmulClass(node.Op) ? alpha : 0));
                var bytes = (double)node.OutputBytes + node.Inputs.Sum(x => (double)x.OutputBytes);
                var t = totals.GetValueOrDefault(node.Op);
                totals[node.Op] = (t.Flops + node.Flops, t.Bytes + bytes, t.Seconds + seconds, t.Nodes + 1);
            }
        }
        var flops = new Dictionary<OpKind, double>();
        var moved = new Dictionary<OpKind, double>();
        foreach (var (kind, t) in totals)
        {
            // A kind whose nodes cost no more than an 8×8 op has no measurable rate: the per-op cost prices it.
            if (t.Seconds < 0.1e-6 * t.Nodes) continue;
            if (t.Flops > 0) flops[kind] = t.Flops / t.Seconds;
            else if (t.Bytes > 0) moved[kind] = t.Bytes / t.Seconds;
        }
        return (flops, moved);
    }

    /// <summary>The small models whose training graphs <see cref="KindRates"/> times (one of each family; not the zoo's shapes).</summary>
    private static readonly ModelSpec[] CalibrationModels =
    [
        new GptSpec { Name = "probe-gpt", Batch = 4, DType = DType.F32, Layers = 1, Hidden = 48, Heads = 4, SeqLen = 24, Vocab = 192 },
        new MoeSpec { Name = "probe-moe", Batch = 4, DType = DType.F32, Layers = 2, Hidden = 48, Heads = 4, SeqLen = 24, Vocab = 192, Experts = 4, ExpertGroupSize = 48 },
        new MlpSpec { Name = "probe-mlp", Batch = 24, DType = DType.F32, Layers = 2, Hidden = 48, Ffn = 192 },
        new WResNetSpec { Name = "probe-wresnet", Batch = 4, DType = DType.F32, Stages = [1], BaseChannels = 8, WidthFactor = 2, ImageSize = 12, Classes = 10 },
    ];

    /// <summary><paramref name="count"/> independent ops of one [rows, cols] input.</summary>
    private static Graph Many(GraphBuilder b, int rows, int cols, int count, Func<GraphBuilder, Node, int, Node> op)
    {
        var x = b.Input("x", new Shape(rows, cols));
        var outputs = Enumerable.Range(0, count).Select(i => op(b, x, i)).ToArray();
        return b.Build([outputs[^1]]);
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

    /// <summary>
    /// The training step (forward, backward, Adam) of a 2-block MLP so narrow (8 wide, batch 4) that its
    /// kernels take nanoseconds: its wall time per node is what the executor itself costs per op of a
    /// training graph (dispatch, allocating and freeing, broadcasting, updates).
    /// </summary>
    private static (Graph Graph, IReadOnlyDictionary<string, HostTensor> Inputs) ProbeTraining()
    {
        var forward = new MlpSpec { Name = "probe-ops", Batch = 4, DType = DType.F32, Layers = 2, Hidden = 8, Ffn = 8 }.Build();
        var training = TrainingGraph.Build(forward, new TrainingOptions());
        return (training, Trainer.StepInputs(new SyntheticData(forward, 0).Batch(0), 1e-4f, 1));
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
    /// Per non-leaf node of the graph, run on a (1, 1) mesh by <paramref name="devices"/> executors at
    /// once (one thread each): wall seconds (the median over threads of their median sample) and the
    /// kernel seconds the executor times around each node (the median over nodes, samples and threads).
    /// </summary>
    private static (double Wall, double Kernel) PerNode(ClusterSpec spec, int devices, Func<GraphBuilder, Graph> build)
    {
        var graph = build(new GraphBuilder());
        return PerNode(spec, devices, (graph, graph.Inputs.ToDictionary(n => n.Name,
            n => HostTensor.FromFloats(ElementType.F32, Enumerable.Repeat(0.25f, (int)n.Shape.Elements).ToArray(), n.Shape.ToArray()), StringComparer.Ordinal)));
    }

    private static (double Wall, double Kernel) PerNode(ClusterSpec spec, int devices, (Graph Graph, IReadOnlyDictionary<string, HostTensor> Inputs) run)
    {
        var (wall, samples) = Sample(spec, devices, run);
        return (wall, Median([.. samples.SelectMany(s => s)]));
    }

    /// <summary>Per node id: the median of the kernel seconds the executor timed around it (over samples and threads); 0 for leaves.</summary>
    private static double[] NodeKernels(ClusterSpec spec, int devices, (Graph Graph, IReadOnlyDictionary<string, HostTensor> Inputs) run)
    {
        var (_, samples) = Sample(spec, devices, run);
        var nodes = run.Graph.Nodes.Where(n => !n.IsLeaf).Select(n => n.Id).ToArray();
        var medians = new double[run.Graph.Nodes.Count];
        for (var i = 0; i < nodes.Length; i++) medians[nodes[i]] = Median([.. samples.Select(s => s[i])]);
        return medians;
    }

    /// <summary>
    /// Runs the graph on a (1, 1) mesh in <paramref name="devices"/> executors at once (one thread each): wall seconds per
    /// node (the median over threads of their median sample) and the kernel seconds the executor timed around each
    /// non-leaf node, one array (in node order) per sampled run of every thread.
    /// </summary>
    private static (double Wall, List<double[]> Samples) Sample(ClusterSpec spec, int devices, (Graph Graph, IReadOnlyDictionary<string, HostTensor> Inputs) run)
    {
        var (graph, inputs) = run;
        var plan = IntraOpPass.Run(graph, LogicalMesh.Create(spec.WithShape(1, 1), 1, 1));
        var nodes = graph.Nodes.Where(n => !n.IsLeaf).Select(n => n.Id).ToArray();
        var perThread = new double[devices];
        var kernels = new List<double[]>[devices];
        using var start = new Barrier(devices);
        var threads = Enumerable.Range(0, devices).Select(t => new Thread(() =>
        {
            using var exec = new SpmdExecutor(graph, plan, (ulong)t);
            // Warm up until the JIT has promoted the hot code (tier 0 → instrumented → optimized, each
            // after 30 calls): training steps run optimized code, so the probe must too.
            Warm(() => exec.Run(inputs));
            var t0 = Stopwatch.GetTimestamp();
            exec.Run(inputs);
            // Each timed sample spans ≥ 20 ms, like a training step: on a shared machine it then sees
            // the same share of the cores as the steps it predicts (short samples dodge preemption).
            var runs = (int)Math.Clamp(SampleSeconds / Stopwatch.GetElapsedTime(t0).TotalSeconds, 1, 1000);
            start.SignalAndWait();
            var times = new double[5];
            kernels[t] = [];
            for (var rep = 0; rep < times.Length; rep++)
            {
                var t1 = Stopwatch.GetTimestamp();
                for (var i = 0; i < runs; i++)
                {
                    var seconds = exec.Run(inputs).NodeSeconds;
                    if (i % 4 == 0) kernels[t].Add([.. nodes.Select(id => seconds[id].Seconds)]);
                }
                times[rep] = Stopwatch.GetElapsedTime(t1).TotalSeconds / runs;
            }
            perThread[t] = Median(times) / nodes.Length;
        }) { IsBackground = true }).ToArray();
        foreach (var th in threads) th.Start();
        foreach (var th in threads) th.Join();
        return (Median(perThread), [.. kernels.SelectMany(k => k)]);
    }

    /// <summary>
    /// Runs <paramref name="run"/> until its time settles: chunks of 20 runs until a chunk's median is
    /// within 3% of the previous one's, at least <see cref="WarmupRuns"/> runs, at most 4 s (the first
    /// probe of a process waits for the JIT's background compiles).
    /// </summary>
    private static void Warm(Action run)
    {
        // The first probe of a process runs while the JIT compiles the executor's hot code in the
        // background: its times can hold still at tier 0 for a while, so it warms longer.
        var least = Interlocked.Exchange(ref s_warmed, 1) == 0 ? FirstWarmupSeconds : WarmupSeconds;
        var clock = Stopwatch.StartNew();
        double previous = double.PositiveInfinity;
        for (var done = 0; clock.Elapsed.TotalSeconds < least + 4; done += 20)
        {
            var times = new double[20];
            for (var i = 0; i < times.Length; i++)
            {
                var t = Stopwatch.GetTimestamp();
                run();
                times[i] = Stopwatch.GetElapsedTime(t).TotalSeconds;
            }
            var median = Median(times);
            if (done + 20 >= WarmupRuns && clock.Elapsed.TotalSeconds >= least && Math.Abs(median - previous) <= 0.03 * previous) return;
            previous = median;
        }
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
