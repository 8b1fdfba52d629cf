using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;

namespace Alpa.Planner.Plans;

/// <summary>
/// A parallel execution plan (DESIGN §3.5, §6): the stages with their meshes and strategies, the
/// schedule, and everything the simulator needs to replay it. A plan is data: written by
/// <c>alpa plan</c>, read by <c>alpa simulate</c> and <c>alpa train</c>, which execute it as is.
/// </summary>
public sealed record Plan
{
    /// <summary>The format this library writes and reads.</summary>
    public const int CurrentFormatVersion = 1;

    /// <summary>Version of the JSON format; readers refuse versions they do not know.</summary>
    public int FormatVersion { get; init; } = CurrentFormatVersion;
    /// <summary>SHA-256 of the training graph the plan was made for (<see cref="GraphHash"/>).</summary>
    public required string GraphHash { get; init; }
    /// <summary>Hash of the cluster spec the plan was made for.</summary>
    public required string ClusterHash { get; init; }
    /// <summary>Pipeline schedule.</summary>
    public required PipelineSchedule Schedule { get; init; }
    /// <summary>Microbatches per step B.</summary>
    public required int Microbatches { get; init; }
    /// <summary>Stages in pipeline order.</summary>
    public required IReadOnlyList<PlanStage> Stages { get; init; }
    /// <summary>Cross-stage tensors per microbatch (forward; the backward sends as many bytes back).</summary>
    public required IReadOnlyList<PlanTransfer> Transfers { get; init; }
    /// <summary>The cluster facts the simulator uses (hosts, devices, links).</summary>
    public required InterOpCluster Cluster { get; init; }
    /// <summary>
    /// Cross-mesh resharding with Alpa's local all-gather [Alpa §6]: a boundary tile crosses to each
    /// destination host once and is all-gathered there (true, the default), or every receiving
    /// device gets its own copy (false, the paper's ablation). See <see cref="CrossMeshResharding"/>.
    /// </summary>
    public bool LocalAllGather { get; init; } = true;
    /// <summary>The DP objective Σ t_i + (B − 1)·max t_j + max(sync + update), seconds.</summary>
    public double DpObjectiveSeconds { get; init; }
    /// <summary>Simulated time of one training step, seconds.</summary>
    public double StepSeconds { get; init; }
    /// <summary>Simulated idle share of device time.</summary>
    public double BubbleFraction { get; init; }
    /// <summary>FLOPs the plan executes per step over step time and device count, in TFLOP/s.</summary>
    public double TflopsPerDevice { get; init; }
    /// <summary>Wall-clock time of planning, seconds (measured by the caller: the planner has no clock).</summary>
    public double CompileSeconds { get; init; }
}

/// <summary>One pipeline stage of a plan.</summary>
public sealed record PlanStage
{
    /// <summary>First layer (inclusive).</summary>
    public required int FirstLayer { get; init; }
    /// <summary>Last layer (inclusive).</summary>
    public required int LastLayer { get; init; }
    /// <summary>Physical submesh (hosts, devices per host).</summary>
    public required SubmeshShape Submesh { get; init; }
    /// <summary>Logical mesh (n0, n1) the intra-operator strategies refer to.</summary>
    public required LogicalMeshShape LogicalMesh { get; init; }
    /// <summary>Global device ids (host · M + local), row-major over the logical mesh.</summary>
    public required IReadOnlyList<int> Devices { get; init; }
    /// <summary>Strategy id of every heavy op, by node name.</summary>
    public required IReadOnlyDictionary<string, string> Strategies { get; init; }
    /// <summary>Sharding spec per dim of every parameter (R, S0, S1, S01), by node name.</summary>
    public required IReadOnlyDictionary<string, IReadOnlyList<string>> ParameterSpecs { get; init; }
    /// <summary>Simulated peak memory of one device of the stage, bytes.</summary>
    public long PeakMemoryBytes { get; init; }
    /// <summary>Predicted forward time of one microbatch, seconds.</summary>
    public required double ForwardSeconds { get; init; }
    /// <summary>Predicted backward time of one microbatch, seconds.</summary>
    public required double BackwardSeconds { get; init; }
    /// <summary>Predicted optimizer update time, once per step, seconds.</summary>
    public required double UpdateSeconds { get; init; }
    /// <summary>Parameters + gradients + optimizer state per device, bytes.</summary>
    public required long ParameterBytes { get; init; }
    /// <summary>Activations kept per microbatch per device, bytes.</summary>
    public required long ActivationBytes { get; init; }
    /// <summary>FLOPs per microbatch (forward + backward) the stage executes on its whole mesh.</summary>
    public required double Flops { get; init; }
    /// <summary>Once-per-step collectives (gradient sync), in execution order.</summary>
    public required IReadOnlyList<StepCollective> Collectives { get; init; }
    /// <summary>
    /// Sharding spec per dim of every stage-boundary tensor the stage produces for or receives from
    /// another stage, by node name (DESIGN §3.5); empty when the costs did not come from the intra-op pass.
    /// </summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> BoundarySpecs { get; init; } = new Dictionary<string, IReadOnlyList<string>>();

    /// <summary>Devices of the stage.</summary>
    public int DeviceCount => Submesh.Count;
}

/// <summary>Tensors that stage <see cref="FromStage"/> sends to the later stage <see cref="ToStage"/> each microbatch.</summary>
/// <param name="Bytes">Their bytes per microbatch (the backward sends as many back).</param>
public sealed record PlanTransfer(int FromStage, int ToStage, long Bytes)
{
    /// <summary>
    /// The boundary tensors, with their specs in both stages' <see cref="PlanStage.BoundarySpecs"/>;
    /// empty when unknown (the simulator then charges <see cref="Bytes"/> as one block).
    /// </summary>
    public IReadOnlyList<PlanTensor> Tensors { get; init; } = [];
}

/// <summary>A boundary tensor of one microbatch.</summary>
/// <param name="Name">Node name of its producer (the key of <see cref="PlanStage.BoundarySpecs"/>).</param>
/// <param name="Shape">Global shape at the microbatch size.</param>
/// <param name="ElementBytes">Bytes per element.</param>
public sealed record PlanTensor(string Name, IReadOnlyList<long> Shape, int ElementBytes)
{
    /// <summary>Bytes of the whole tensor.</summary>
    public long Bytes => Shape.Aggregate(1L, (a, b) => a * b) * ElementBytes;
}
