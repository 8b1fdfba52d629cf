namespace Alpa.Planner.Cluster;

/// <summary>How the devices inside one host are wired.</summary>
public enum IntraHostTopology
{
    /// <summary>A switch (NVSwitch, shared memory): every group gets the full per-device bandwidth.</summary>
    Switched,
    /// <summary>
    /// The NVLink 2.0 hybrid cube-mesh of a DGX-1 / aws-p3.16xlarge: each GPU has six 25 GB/s lanes to
    /// four neighbours, so a group's ring bandwidth is set by its members' lanes inside the group
    /// (see <see cref="NvLinkHybridCubeMesh"/>).
    /// </summary>
    HybridCubeMesh,
}

/// <summary>One accelerator (or one logical CPU device).</summary>
public sealed record DeviceSpec
{
    /// <summary>Model name, e.g. <c>V100-SXM2-16GB</c>.</summary>
    public required string Model { get; init; }
    /// <summary>Device memory in bytes.</summary>
    public required long MemoryBytes { get; init; }
    /// <summary>Peak dense FLOP/s for half-precision (f16/bf16) matmuls (tensor cores).</summary>
    public required double PeakHalfFlops { get; init; }
    /// <summary>Peak FLOP/s in f32 (also the rate of element-wise arithmetic).</summary>
    public required double PeakF32Flops { get; init; }
    /// <summary>Memory bandwidth in bytes/s.</summary>
    public required double MemoryBytesPerSecond { get; init; }
}

/// <summary>
/// Fractions of datasheet peaks that real kernels and collectives reach, and collective latencies.
/// Every built-in value names its source in <see cref="Source"/>; <c>alpa profile</c> measures them.
/// </summary>
public sealed record Calibration
{
    /// <summary>Achievable fraction of the matmul peak for large GEMMs (0, 1].</summary>
    public required double MatmulEfficiency { get; init; }
    /// <summary>Achievable fraction of memory bandwidth for streaming (memory-bound) kernels (0, 1].</summary>
    public required double MemoryEfficiency { get; init; }
    /// <summary>Achievable fraction of an intra-host link's peak for ring collectives (0, 1].</summary>
    public required double IntraHostLinkEfficiency { get; init; }
    /// <summary>Achievable fraction of a host's network bandwidth for ring collectives (0, 1].</summary>
    public required double InterHostLinkEfficiency { get; init; }
    /// <summary>Latency α of one collective inside a host, seconds.</summary>
    public required double IntraHostAlphaSeconds { get; init; }
    /// <summary>Latency α of one collective whose groups cross hosts, seconds.</summary>
    public required double InterHostAlphaSeconds { get; init; }
    /// <summary>All-to-all penalty per group member: the cost is multiplied by <c>n · this</c> (Alpa's code: n/2).</summary>
    public double AllToAllPenaltyPerDevice { get; init; } = 0.5;
    /// <summary>Where the numbers come from.</summary>
    public string Source { get; init; } = "";
}

/// <summary>
/// Fixed costs the runtime pays whatever the tensor sizes: what dominates the step of a tiny model on
/// CPU devices. <c>alpa profile</c> measures them on this machine's real executor and interpreter (with
/// as many busy devices as the cluster has, since they share the cores); datasheet clusters leave them
/// at zero, where kernels are large enough for launch costs not to matter.
/// </summary>
public sealed record RuntimeOverheads
{
    // Declared before None, which the static initializers build in textual order.
    private static readonly IReadOnlyDictionary<Graph.OpKind, double> NoRates = new Dictionary<Graph.OpKind, double>();

    /// <summary>No fixed costs (datasheet clusters).</summary>
    public static RuntimeOverheads None { get; } = new();
    /// <summary>Per op on one device: the executor's dispatch, resharding checks, allocation and kernel call, seconds.</summary>
    public double OpSeconds { get; init; }
    /// <summary>Extra per matmul-class op beyond <see cref="OpSeconds"/> (the GEMM call's own fixed cost), seconds.</summary>
    public double MatmulSeconds { get; init; }
    /// <summary>Per instruction of a mesh worker's list (the interpreter's bookkeeping, e.g. one FREE), seconds.</summary>
    public double InstructionSeconds { get; init; }
    /// <summary>Extra per RUN beyond its ops: setting up and tearing down one forward or backward part of a stage, seconds.</summary>
    public double RunSeconds { get; init; }
    /// <summary>Per boundary transfer between two meshes (cutting into tiles, handing over, joining), seconds.</summary>
    public double TransferSeconds { get; init; }
    /// <summary>
    /// Cores all devices of the cluster share (local CPU devices on one machine), 0 when every device
    /// computes on its own. The rates above are then one device's while at most this many devices run;
    /// with more busy at once, each runs at cores / busy of its rate (the simulator shares them).
    /// </summary>
    public int SharedCores { get; init; }
    /// <summary>
    /// Arithmetic rate of the ops outside the matmul class (activations, normalizations, softmax,
    /// optimizer updates) on one device, FLOP/s; 0 to use the device's peak. Measured for CPU devices,
    /// whose vector code runs far below the GEMM rate.
    /// </summary>
    public double VectorFlops { get; init; }
    /// <summary>
    /// Measured rate of individual op kinds, FLOP/s as <see cref="Graph.OpCosts"/> counts them: the kinds a probe timed
    /// in real training graphs (a reduction, a normalization's gradient and a GEMM of a tiny model run at very different
    /// fractions of one vector rate). A kind absent here uses <see cref="VectorFlops"/> (or the GEMM rate for the matmul class).
    /// </summary>
    public IReadOnlyDictionary<Graph.OpKind, double> OpFlops { get; init; } = NoRates;
    /// <summary>Measured bytes (read + written) per second of op kinds that move data without arithmetic (transpose, slice, concat); absent kinds use the device's memory bandwidth.</summary>
    public IReadOnlyDictionary<Graph.OpKind, double> OpBytesPerSecond { get; init; } = NoRates;
    /// <summary>
    /// Local CPU meshes: the runtime runs a node on the devices of a mesh at once (a thread each) only when its work per
    /// device reaches <see cref="MeshConcurrentFlops"/> FLOPs or its output per device <see cref="MeshConcurrentBytes"/>
    /// bytes; smaller nodes run device after device on the stage's one thread, so a mesh of d devices takes d times a
    /// device's time for them and a stage keeps one core busy. Both 0: a mesh's devices always compute at once.
    /// </summary>
    public double MeshConcurrentFlops { get; init; }
    /// <summary>Output bytes per device from which a node runs on a mesh's devices at once (see <see cref="MeshConcurrentFlops"/>).</summary>
    public double MeshConcurrentBytes { get; init; }
    /// <summary>True when small nodes run device after device (<see cref="MeshConcurrentFlops"/> or <see cref="MeshConcurrentBytes"/> set).</summary>
    public bool SequentialSmallNodes => MeshConcurrentFlops > 0 || MeshConcurrentBytes > 0;

    /// <summary>True when every cost is zero.</summary>
    public bool IsNone => this with { OpFlops = NoRates, OpBytesPerSecond = NoRates } == None && OpFlops.Count == 0 && OpBytesPerSecond.Count == 0;
}

/// <summary>
/// A cluster of <see cref="Hosts"/> identical hosts with <see cref="DevicesPerHost"/> devices each. Links
/// are per direction.
/// </summary>
public sealed record ClusterSpec
{
    /// <summary>Name, e.g. <c>aws-p3.16xlarge</c>.</summary>
    public required string Name { get; init; }
    /// <summary>Number of hosts (≥ 1).</summary>
    public required int Hosts { get; init; }
    /// <summary>Devices per host (≥ 1).</summary>
    public required int DevicesPerHost { get; init; }
    /// <summary>The device every host holds.</summary>
    public required DeviceSpec Device { get; init; }
    /// <summary>Wiring inside a host.</summary>
    public required IntraHostTopology Topology { get; init; }
    /// <summary>Intra-host link bandwidth per device (all its links together), bytes/s per direction.</summary>
    public required double IntraHostBytesPerSecond { get; init; }
    /// <summary>Network bandwidth of one host, bytes/s per direction, shared by all its devices.</summary>
    public required double InterHostBytesPerSecond { get; init; }
    /// <summary>Achievable fractions and latencies.</summary>
    public required Calibration Calibration { get; init; }
    /// <summary>Bandwidth of the fallback path between two devices of a host without a direct link (PCIe), bytes/s.</summary>
    public double FallbackBytesPerSecond { get; init; } = 10e9;
    /// <summary>Fixed costs of the runtime (measured for <c>local</c>; none for datasheet clusters).</summary>
    public RuntimeOverheads Overheads { get; init; } = RuntimeOverheads.None;

    public int Devices => Hosts * DevicesPerHost;

    /// <summary>The same cluster with another host/device count (a submesh or a bigger pool).</summary>
    public ClusterSpec WithShape(int hosts, int devicesPerHost) => this with { Hosts = hosts, DevicesPerHost = devicesPerHost };

    /// <summary>Checks every field; throws <see cref="ClusterSpecException"/> naming the first bad one.</summary>
    public ClusterSpec Validate()
    {
        static void Positive(double v, string field)
        {
            if (!(v > 0) || double.IsInfinity(v)) throw new ClusterSpecException($"cluster field '{field}' must be a positive number, got {v}") { Field = field };
        }
        static void NonNegative(double v, string field)
        {
            if (!(v >= 0) || double.IsInfinity(v)) throw new ClusterSpecException($"cluster field '{field}' must be a number ≥ 0, got {v}") { Field = field };
        }
        static void Fraction(double v, string field)
        {
            if (!(v > 0 && v <= 1)) throw new ClusterSpecException($"cluster field '{field}' must be in (0, 1], got {v}") { Field = field };
        }
        if (Hosts < 1) throw new ClusterSpecException($"cluster '{Name}' needs at least one host, got {Hosts}") { Field = "hosts" };
        if (DevicesPerHost < 1) throw new ClusterSpecException($"cluster '{Name}' needs at least one device per host, got {DevicesPerHost}") { Field = "devices_per_host" };
        if (Topology == IntraHostTopology.HybridCubeMesh && DevicesPerHost > NvLinkHybridCubeMesh.Gpus)
            throw new ClusterSpecException($"an NVLink hybrid cube-mesh host has at most {NvLinkHybridCubeMesh.Gpus} GPUs, got {DevicesPerHost}") { Field = "devices_per_host" };
        Positive(Device.MemoryBytes, "device.memory_gb");
        Positive(Device.PeakHalfFlops, "device.peak_tflops_half");
        Positive(Device.PeakF32Flops, "device.peak_tflops_f32");
        Positive(Device.MemoryBytesPerSecond, "device.hbm_gb_per_s");
        Positive(IntraHostBytesPerSecond, "intra_host.gb_per_s_per_device");
        Positive(InterHostBytesPerSecond, "inter_host.gbit_per_s_per_host");
        Positive(FallbackBytesPerSecond, "intra_host.fallback_gb_per_s");
        var c = Calibration;
        Fraction(c.MatmulEfficiency, "calibration.matmul_efficiency");
        Fraction(c.MemoryEfficiency, "calibration.memory_efficiency");
        Fraction(c.IntraHostLinkEfficiency, "calibration.intra_host_link_efficiency");
        Fraction(c.InterHostLinkEfficiency, "calibration.inter_host_link_efficiency");
        Positive(c.IntraHostAlphaSeconds, "calibration.intra_host_alpha_us");
        Positive(c.InterHostAlphaSeconds, "calibration.inter_host_alpha_us");
        Positive(c.AllToAllPenaltyPerDevice, "calibration.all_to_all_penalty_per_device");
        var o = Overheads;
        NonNegative(o.OpSeconds, "runtime.op_us");
        NonNegative(o.MatmulSeconds, "runtime.matmul_us");
        NonNegative(o.InstructionSeconds, "runtime.instruction_us");
        NonNegative(o.RunSeconds, "runtime.run_us");
        NonNegative(o.TransferSeconds, "runtime.transfer_us");
        NonNegative(o.SharedCores, "runtime.shared_cores");
        NonNegative(o.VectorFlops, "runtime.vector_gflops");
        NonNegative(o.MeshConcurrentFlops, "runtime.mesh_concurrent_flops");
        NonNegative(o.MeshConcurrentBytes, "runtime.mesh_concurrent_bytes");
        foreach (var (kind, rate) in o.OpFlops) Positive(rate, $"runtime.op_gflops.{kind}");
        foreach (var (kind, rate) in o.OpBytesPerSecond) Positive(rate, $"runtime.op_gb_per_s.{kind}");
        return this;
    }
}

/// <summary>A cluster name, cluster file or mesh shape could not be understood.</summary>
public sealed class ClusterSpecException : AlpaException
{
    public ClusterSpecException(string message) : base(message) { }
    public ClusterSpecException(string message, Exception inner) : base(message, inner) { }
}
