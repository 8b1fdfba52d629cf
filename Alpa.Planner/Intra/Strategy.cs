using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Intra;

/// <summary>
/// One parallel algorithm for one node on a logical mesh [Alpa §4.1, Table 3].
/// </summary>
public sealed record Strategy
{
    /// <summary>Stable id, e.g. <c>S0R,RS1→S0S1</c> or <c>RS0,S0R→RR|AllReduce@0</c>; unique per node.</summary>
    public required string Id { get; init; }
    /// <summary>Layout of the node's output.</summary>
    public required ShardingSpec Output { get; init; }
    /// <summary>Layout each input must have (resharding from the producer is charged on the edge).</summary>
    public required IReadOnlyList<ShardingSpec> Inputs { get; init; }
    /// <summary>Per-device compute time, seconds: max(FLOPs / achievable rate, bytes / memory bandwidth).</summary>
    public required double ComputeSeconds { get; init; }
    /// <summary>Collectives the algorithm itself issues (e.g. the all-reduce of a k-split matmul).</summary>
    public IReadOnlyList<Collective> Collectives { get; init; } = [];
    /// <summary>Per-device bytes of the output.</summary>
    public required double MemoryBytes { get; init; }

    /// <summary>Time of <see cref="Collectives"/>, seconds.</summary>
    public double CommSeconds => Collectives.Sum(c => c.Seconds);
}

/// <summary>Per-device compute time of a node on one device of a mesh (DESIGN §3.2).</summary>
public static class ComputeModel
{
    /// <summary>
    /// Time to run <paramref name="node"/> with its work split <paramref name="split"/> ways, reading and
    /// writing <paramref name="bytesPerDevice"/>: the larger of FLOPs over the achievable rate (matmul
    /// class at the dtype's peak × matmul efficiency, other ops at the f32 peak) and bytes over the
    /// achievable memory bandwidth, plus the runtime's fixed cost of one op (and of one GEMM call for
    /// the matmul class) from <see cref="RuntimeOverheads"/>. A profiled cluster's per-kind rates
    /// (<see cref="RuntimeOverheads.OpFlops"/>, <see cref="RuntimeOverheads.OpBytesPerSecond"/>) replace the
    /// device-wide ones for the kinds they list. A replicated heavy op is charged its full
    /// FLOPs on every device.
    /// </summary>
    /// <param name="outputBytesPerDevice">Bytes of the output on one device (for <see cref="RuntimeOverheads.MeshConcurrentBytes"/>); negative: the output split evenly.</param>
    public static double Seconds(Node node, LogicalMesh mesh, double split, double bytesPerDevice, double outputBytesPerDevice = -1)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(mesh);
        if (node.IsLeaf) return 0;
        var dev = mesh.Device;
        var cal = mesh.Cluster.Calibration;
        var overheads = mesh.Cluster.Overheads;
        var fixedCost = overheads.OpSeconds;
        double rate;
        if (OpCosts.IsMatmulClass(node.Op))
        {
            var peak = node.DType is DType.F16 or DType.BF16 ? dev.PeakHalfFlops : dev.PeakF32Flops;
            rate = overheads.OpFlops.TryGetValue(node.Op, out var measured) ? measured : peak * cal.MatmulEfficiency;
            fixedCost += overheads.MatmulSeconds;
        }
        else
        {
            rate = overheads.OpFlops.TryGetValue(node.Op, out var measured) ? measured
                : overheads.VectorFlops > 0 ? overheads.VectorFlops : dev.PeakF32Flops;
        }
        var flops = node.Flops / split;
        var bandwidth = overheads.OpBytesPerSecond.TryGetValue(node.Op, out var moved) ? moved : dev.MemoryBytesPerSecond * cal.MemoryEfficiency;
        var memory = node.Op == OpKind.Reshape ? 0 : bytesPerDevice / bandwidth;
        var seconds = fixedCost + Math.Max(flops / rate, memory);
        // A small node on a local CPU mesh runs device after device on the stage's thread (RuntimeOverheads.MeshConcurrentFlops).
        var output = outputBytesPerDevice >= 0 ? outputBytesPerDevice : (double)node.OutputBytes / mesh.Devices;
        var sequential = overheads.SequentialSmallNodes && mesh.Devices > 1
            && !(overheads.MeshConcurrentFlops > 0 && node.Flops / mesh.Devices >= overheads.MeshConcurrentFlops)
            && !(overheads.MeshConcurrentBytes > 0 && output >= overheads.MeshConcurrentBytes);
        return sequential ? seconds * mesh.Devices : seconds;
    }
}
