using Alpa.Planner.Sharding;
using Alpa.Planner.Inter;
using Alpa.Planner.Plans;

namespace Alpa.Planner.Pipeline;

/// <summary>An instruction list that cannot run: a deadlock, a RUN reading a buffer that is not there, a buffer never freed.</summary>
public sealed class PipelineException : AlpaException
{
    public PipelineException(string message) : base(message) { }
}

/// <summary>What one stage did in a simulated step.</summary>
public sealed record StageSimulation
{
    public required int Stage { get; init; }
    /// <summary>When the stage's last instruction finished, seconds from the start of the step.</summary>
    public required double FinishSeconds { get; init; }
    /// <summary>Time the mesh spent in RUN, COLLECTIVE and UPDATE, seconds.</summary>
    public required double BusySeconds { get; init; }
    /// <summary>Peak bytes on one device: parameters and optimizer state plus live activation and boundary buffers.</summary>
    public required long PeakMemoryBytes { get; init; }
    /// <summary>Most microbatches whose stashed activations were live at once.</summary>
    public required int PeakLiveMicrobatches { get; init; }
}

/// <summary>Bytes one per-step collective moves.</summary>
public sealed record CollectiveTraffic(int Stage, CollectiveKind Kind, int Axis, long Bytes);

/// <summary>The outcome of replaying a plan's instruction lists.</summary>
public sealed record SimulationResult
{
    /// <summary>Time of one training step, seconds.</summary>
    public required double StepSeconds { get; init; }
    /// <summary>Share of device time spent idle (not in RUN, COLLECTIVE or UPDATE), weighted by devices.</summary>
    public required double BubbleFraction { get; init; }
    /// <summary>FLOPs executed per step (B · Σ stage FLOPs per microbatch).</summary>
    public required double FlopsPerStep { get; init; }
    /// <summary>FLOPs per step / step time / devices, TFLOP/s.</summary>
    public required double TflopsPerDevice { get; init; }
    public required IReadOnlyList<StageSimulation> Stages { get; init; }
    /// <summary>Every per-step collective executed, in stage order.</summary>
    public required IReadOnlyList<CollectiveTraffic> Collectives { get; init; }
    /// <summary>Bytes sent between meshes in one step (activations and gradients).</summary>
    public required long CrossMeshBytes { get; init; }
}

/// <summary>
/// Replays the per-worker instruction lists event by event with the plan's predicted costs:
/// RUN takes the stage's forward or backward time, COLLECTIVE and UPDATE their per-step times,
/// a SEND occupies the channel between the two meshes for latency + bytes / bandwidth (FIFO per
/// directed stage pair), a RECV waits for its arrival. Every instruction also costs the cluster's
/// fixed interpreter cost, and a RUN or UPDATE the fixed cost of setting up a stage part
/// (<see cref="InterOpCluster.InstructionSeconds"/>, <see cref="InterOpCluster.RunSeconds"/>; zero
/// for datasheet clusters). Deterministic: arrival times depend only on
/// each sender's own timeline, so the order in which workers are advanced does not matter.
/// </summary>
public static partial class PipelineSimulator
{
    public static SimulationResult Simulate(Plan plan) => Simulate(plan, InstructionEmitter.Emit(plan));

    public static SimulationResult Simulate(Plan plan, IReadOnlyList<WorkerProgram> programs)
    {
        var state = new Replay(plan, programs);
        state.RunToEnd();
        return state.Result();
    }

    /// <summary>
    /// Time to move <paramref name="bytes"/> from one mesh to another. Meshes on one host use the
    /// intra-host link with min(devices) parallel lanes; otherwise the tiles cross the network over
    /// min(hosts) NICs in parallel (each tile crosses once, DESIGN §5).
    /// </summary>
    public static double TransferSeconds(InterOpCluster cluster, IReadOnlyList<int> from, IReadOnlyList<int> to, long bytes)
    {
        var m = cluster.DevicesPerHost;
        var fromHosts = from.Select(d => d / m).Distinct().Count();
        var toHosts = to.Select(d => d / m).Distinct().Count();
        var sameHost = fromHosts == 1 && toHosts == 1 && from[0] / m == to[0] / m;
        return sameHost
            ? cluster.IntraHostLatency + bytes / (cluster.IntraHostBandwidth * Math.Min(from.Count, to.Count))
            : cluster.InterHostLatency + bytes / (cluster.InterHostBandwidth * Math.Min(fromHosts, toHosts));
    }
}
