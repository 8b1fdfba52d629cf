using System.Globalization;

namespace Alpa.Planner.Cluster;

/// <summary>A cluster reference <c>NAME:HOSTSxDEVICES</c>, e.g. <c>aws-p3.16xlarge:2x8</c> or <c>local:1x4</c>.</summary>
public sealed record ClusterName(string Name, int Hosts, int DevicesPerHost)
{
    /// <summary>Parses <c>NAME:HxD</c>; throws <see cref="ClusterSpecException"/> saying what the form is.</summary>
    public static ClusterName Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
            throw Bad(text, "expected NAME:HOSTSxDEVICES, e.g. aws-p3.16xlarge:2x8");
        var name = text[..colon];
        var dims = text[(colon + 1)..].Split('x');
        if (dims.Length != 2 || !TryCount(dims[0], out var hosts) || !TryCount(dims[1], out var devices))
            throw Bad(text, $"'{text[(colon + 1)..]}' is not HOSTSxDEVICES with positive integers, e.g. 2x8");
        return new ClusterName(name, hosts, devices);
    }

    public override string ToString() => $"{Name}:{Hosts}x{DevicesPerHost}";

    private static bool TryCount(string s, out int value) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;

    private static ClusterSpecException Bad(string text, string why) => new($"cluster '{text}': {why}") { Field = "cluster" };
}

/// <summary>
/// The built-in cluster specs. Hardware numbers are vendor datasheet figures (as collected in
/// <c>bench/clusters.json</c>); calibration constants are documented next to each value.
/// </summary>
public static class BuiltInClusters
{
    public const string AwsP3 = "aws-p3.16xlarge";
    public const string DgxH100 = "dgx-h100";
    public const string Local = "local";

    private const double GB = 1e9;

    /// <summary>Names <see cref="Resolve"/> accepts (besides <c>local</c>, which the CLI measures).</summary>
    public static IReadOnlyList<string> Names { get; } = [AwsP3, DgxH100];

    /// <summary>
    /// aws-p3.16xlarge host: 8 × V100-SXM2-16GB (16 GB HBM2 at 900 GB/s, 125 TFLOP/s fp16 tensor,
    /// 15.7 TFLOP/s fp32), NVLink 2.0 hybrid cube-mesh with 6 × 25 GB/s lanes per GPU (150 GB/s per
    /// direction), 25 Gbit/s Ethernet per host (NVIDIA V100 datasheet; AWS EC2 P3 instance page).
    /// </summary>
    public static ClusterSpec P3(int hosts, int devicesPerHost) => new ClusterSpec
    {
        Name = AwsP3,
        Hosts = hosts,
        DevicesPerHost = devicesPerHost,
        Device = new DeviceSpec
        {
            Model = "V100-SXM2-16GB",
            MemoryBytes = 16L << 30,
            PeakHalfFlops = 125e12,
            PeakF32Flops = 15.7e12,
            MemoryBytesPerSecond = 900 * GB,
        },
        Topology = IntraHostTopology.HybridCubeMesh,
        IntraHostBytesPerSecond = 150 * GB,
        InterHostBytesPerSecond = 25e9 / 8,
        // PCIe 3.0 x16 is 15.75 GB/s per direction; ≈ 10 GB/s is what peer copies through the
        // host's PCIe switches reach (assumption, replace by `alpa profile`).
        FallbackBytesPerSecond = 10 * GB,
        Calibration = new Calibration
        {
            // cuBLAS fp16 GEMMs of transformer sizes reach ≈ 85–90 TFLOP/s of the 125 peak on V100
            // (NVIDIA's published cuBLAS/Megatron figures); 0.7 rounds that down.
            MatmulEfficiency = 0.7,
            // STREAM-like kernels reach ≈ 80 % of HBM2 peak (≈ 720–790 GB/s of 900 measured by BabelStream).
            MemoryEfficiency = 0.8,
            // nccl-tests all-reduce bus bandwidth on 8 × V100 NVLink ≈ 120–130 GB/s of 150.
            IntraHostLinkEfficiency = 0.8,
            // TCP/NCCL sockets over 25 GbE reach ≈ 90 % of line rate.
            InterHostLinkEfficiency = 0.9,
            // nccl-tests small-message all-reduce latency: ≈ 10 µs inside a DGX-1, ≈ 50 µs over TCP.
            IntraHostAlphaSeconds = 10e-6,
            InterHostAlphaSeconds = 50e-6,
            AllToAllPenaltyPerDevice = 0.5,
            Source = "V100 datasheet, AWS P3 page; efficiencies from nccl-tests/cuBLAS reports (see BuiltInClusters.P3)",
        },
    }.Validate();

    /// <summary>
    /// DGX H100 host: 8 × H100-SXM5-80GB (80 GB HBM3 at 3.35 TB/s, 989 TFLOP/s dense bf16, 67 TFLOP/s
    /// fp32), NVLink 4 + NVSwitch at 450 GB/s per GPU per direction, 8 × 400 Gbit/s InfiniBand NDR
    /// (3.2 Tbit/s per host) (NVIDIA H100 and DGX H100 datasheets).
    /// </summary>
    public static ClusterSpec H100(int hosts, int devicesPerHost) => new ClusterSpec
    {
        Name = DgxH100,
        Hosts = hosts,
        DevicesPerHost = devicesPerHost,
        Device = new DeviceSpec
        {
            Model = "H100-SXM5-80GB",
            MemoryBytes = 80L << 30,
            PeakHalfFlops = 989e12,
            PeakF32Flops = 67e12,
            MemoryBytesPerSecond = 3350 * GB,
        },
        Topology = IntraHostTopology.Switched,
        IntraHostBytesPerSecond = 450 * GB,
        InterHostBytesPerSecond = 3200e9 / 8,
        FallbackBytesPerSecond = 450 * GB,
        Calibration = new Calibration
        {
            // Large bf16 GEMMs reach ≈ 600–700 TFLOP/s of the 989 dense peak (cuBLASLt reports).
            MatmulEfficiency = 0.65,
            // HBM3 streaming ≈ 85 % of peak.
            MemoryEfficiency = 0.85,
            // nccl-tests all-reduce bus bandwidth on a DGX H100 ≈ 360–380 GB/s of 450.
            IntraHostLinkEfficiency = 0.8,
            // NCCL over NDR InfiniBand with GPUDirect RDMA ≈ 90 % of line rate.
            InterHostLinkEfficiency = 0.9,
            IntraHostAlphaSeconds = 8e-6,
            InterHostAlphaSeconds = 15e-6,
            AllToAllPenaltyPerDevice = 0.5,
            Source = "H100/DGX H100 datasheets; efficiencies from nccl-tests/cuBLASLt reports (see BuiltInClusters.H100)",
        },
    }.Validate();

    /// <summary>
    /// The spec for a built-in name. <c>local</c> is not built in: the CLI measures its devices and
    /// builds the spec with <see cref="ForLocal"/>.
    /// </summary>
    public static ClusterSpec Resolve(ClusterName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name.Name switch
        {
            AwsP3 => P3(name.Hosts, name.DevicesPerHost),
            DgxH100 => H100(name.Hosts, name.DevicesPerHost),
            Local => throw new ClusterSpecException(
                "the 'local' cluster is measured at start: build it with BuiltInClusters.ForLocal from measured rates") { Field = "cluster" },
            _ => throw new ClusterSpecException(
                $"unknown cluster '{name.Name}': use one of {string.Join(", ", Names)}, local, or a JSON cluster file") { Field = "cluster" },
        };
    }

    /// <summary>
    /// A <c>local:HxD</c> cluster of CPU devices from rates the CLI measured: GEMM FLOP/s and copy
    /// bandwidth of one device (devices sharing cores should be measured while sharing), and the
    /// loopback transfer rate between silo processes.
    /// </summary>
    public static ClusterSpec ForLocal(int hosts, int devicesPerHost, double gemmFlopsPerDevice,
        double copyBytesPerSecond, double loopbackBytesPerSecond, long memoryBytesPerDevice) => new ClusterSpec
    {
        Name = Local,
        Hosts = hosts,
        DevicesPerHost = devicesPerHost,
        Device = new DeviceSpec
        {
            Model = "cpu",
            MemoryBytes = memoryBytesPerDevice,
            PeakHalfFlops = gemmFlopsPerDevice,
            PeakF32Flops = gemmFlopsPerDevice,
            MemoryBytesPerSecond = copyBytesPerSecond,
        },
        Topology = IntraHostTopology.Switched,
        IntraHostBytesPerSecond = copyBytesPerSecond,
        InterHostBytesPerSecond = loopbackBytesPerSecond,
        FallbackBytesPerSecond = copyBytesPerSecond,
        Calibration = new Calibration
        {
            // The measured rates already are achieved rates.
            MatmulEfficiency = 1,
            MemoryEfficiency = 1,
            IntraHostLinkEfficiency = 1,
            InterHostLinkEfficiency = 1,
            // Measured small-call latencies on this machine (DESIGN §2): ≈ 40–60 µs between
            // processes; in-process hand-offs ≈ 5 µs (assumption).
            IntraHostAlphaSeconds = 5e-6,
            InterHostAlphaSeconds = 50e-6,
            Source = "measured by the CLI at start",
        },
    }.Validate();
}
