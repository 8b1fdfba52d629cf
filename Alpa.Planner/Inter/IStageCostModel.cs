using Alpa.Planner.Plans;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Inter;

/// <summary>One stage candidate: layers [<see cref="First"/>, <see cref="Last"/>] on a submesh viewed as a logical mesh.</summary>
public readonly record struct StageKey(int First, int Last, SubmeshShape Submesh, LogicalMeshShape Mesh);

/// <summary>A collective that runs once per training step on a stage's mesh (gradient sync).</summary>
public sealed record StepCollective
{
    public required CollectiveKind Kind { get; init; }
    /// <summary>Logical mesh axis of the groups: 0, 1, or −1 for all devices of the mesh.</summary>
    public required int Axis { get; init; }
    /// <summary>Bytes of the full logical tensor communicated within one group (DESIGN §3.2).</summary>
    public required long Bytes { get; init; }
    /// <summary>Predicted duration, seconds.</summary>
    public required double Seconds { get; init; }
}

/// <summary>
/// What the intra-operator pass predicts for one <see cref="StageKey"/> at one microbatch size.
/// Memory figures are per device of the stage's mesh.
/// </summary>
public sealed record StageCost
{
    /// <summary>A candidate that cannot run at all (no sharding fits); the DP never picks it.</summary>
    public static StageCost Infeasible { get; } = new()
    {
        ForwardSeconds = double.PositiveInfinity, BackwardSeconds = double.PositiveInfinity,
        ParameterBytes = long.MaxValue / 4, ActivationBytes = 0,
    };

    /// <summary>Forward time of one microbatch, seconds.</summary>
    public required double ForwardSeconds { get; init; }
    /// <summary>Backward time of one microbatch (recomputation included when the stage recomputes), seconds.</summary>
    public required double BackwardSeconds { get; init; }
    /// <summary>Parameters, gradients and optimizer state held for the whole step, bytes per device.</summary>
    public required long ParameterBytes { get; init; }
    /// <summary>Activations one microbatch keeps from its forward to its backward, bytes per device.</summary>
    public required long ActivationBytes { get; init; }
    /// <summary>Once-per-step gradient synchronization (never inside t_intra, DESIGN §3.4).</summary>
    public IReadOnlyList<StepCollective> StepCollectives { get; init; } = [];
    /// <summary>Once-per-step optimizer update, seconds.</summary>
    public double UpdateSeconds { get; init; }
    /// <summary>FLOPs the stage executes for one microbatch (forward + backward, recomputation included when done).</summary>
    public double Flops { get; init; }
    /// <summary>Chosen strategy id of every heavy op of the stage, by node name.</summary>
    public IReadOnlyDictionary<string, string> Strategies { get; init; } = new Dictionary<string, string>();
    /// <summary>Sharding spec of every parameter of the stage (per dim: R, S0, S1, S01), by node name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> ParameterSpecs { get; init; } = new Dictionary<string, IReadOnlyList<string>>();
    /// <summary>Sharding spec of every tensor the stage's layers exchange with other layers (outputs and inputs), by node name.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> BoundarySpecs { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>
    /// Time to receive the stage's incoming boundary tensors and send their gradients back, per
    /// microbatch (set by <see cref="StageCostTable.Build"/> when given the cluster). Not part of
    /// <see cref="ForwardSeconds"/> or <see cref="BackwardSeconds"/>: the simulator times transfers itself.
    /// </summary>
    public double BoundarySeconds { get; init; }

    /// <summary>t_intra of Alpa's DP: forward + backward of one microbatch.</summary>
    public double IntraSeconds => ForwardSeconds + BackwardSeconds;
    /// <summary>
    /// The stage time the DP uses: t_intra plus <see cref="BoundarySeconds"/>. Eq. (2) leaves
    /// communication between stages out; without it a chain of tiny stages looks free.
    /// </summary>
    public double DpSeconds => IntraSeconds + BoundarySeconds;
    /// <summary>Sum of the per-step collectives' times.</summary>
    public double SyncSeconds => StepCollectives.Sum(c => c.Seconds);
    /// <summary>The per-step term of the DP objective: sync + update.</summary>
    public double StepSeconds => SyncSeconds + UpdateSeconds;
    public bool IsFeasible => double.IsFinite(ForwardSeconds) && double.IsFinite(BackwardSeconds);
}

/// <summary>
/// Costs of stage candidates at one microbatch size: the interface between the intra-operator
/// pass (or a placeholder) and the stage DP. Implementations must be thread-safe and pure:
/// the same key always gives the same cost (candidates are evaluated in parallel).
/// </summary>
public interface IStageCostModel
{
    /// <summary>Number of layers L the candidates range over.</summary>
    int LayerCount { get; }
    /// <summary>Costs of one candidate.</summary>
    StageCost Evaluate(StageKey key);
    /// <summary>Bytes one microbatch sends from layer <paramref name="producer"/> to the later layer <paramref name="consumer"/> (forward; the backward returns as many).</summary>
    long TransferBytes(int producer, int consumer);
    /// <summary>The tensors behind <see cref="TransferBytes"/> at the microbatch size; empty when the model does not know them.</summary>
    IReadOnlyList<PlanTensor> TransferTensors(int producer, int consumer) => [];
}

/// <summary>Stage cost models per microbatch count (the microbatch size is the global batch over it).</summary>
public interface IStageCostProvider
{
    /// <summary>Cost model for a step split into <paramref name="microbatches"/> microbatches.</summary>
    IStageCostModel ForMicrobatches(int microbatches);
}
