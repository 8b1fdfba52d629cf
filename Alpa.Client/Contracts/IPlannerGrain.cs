namespace Alpa.Client.Contracts;

/// <summary>
/// Runs the planner (Alpa.Planner) for a job on any live silo. Without a cluster spec in the request it
/// profiles the silos first (each silo's devices through <see cref="IProfilerGrain"/>, cached per silo
/// process, and the data-plane link between neighbouring silos) and combines them into the spec it plans
/// with. Caches plans by (model, microbatches, cluster spec). Key: a cache partition name.
/// </summary>
[GrainPlacement(GrainPlacement.AnyLiveSilo)]
[ReentrantGrain]
public interface IPlannerGrain : IGrain
{
    Task<PlanReply> PlanAsync(PlanRequest request, CancellationToken cancellationToken = default);
}

/// <summary>
/// Plan <see cref="Model"/> for the devices of <see cref="Silos"/> (silo i owns devices i·D … i·D + D − 1): one pipeline
/// stage per silo, <see cref="Stages"/> stages on groups of whole silos (a stage mesh spanning them), or a given plan.
/// </summary>
/// <param name="Model">Built-in model name.</param>
/// <param name="Silos">Active silo addresses in device order.</param>
/// <param name="Microbatches">Microbatches per step (a power of two dividing the batch).</param>
/// <param name="ClusterJson">A cluster spec to plan with instead of profiling (the planner's JSON format); null = profile.</param>
/// <param name="Stages">N stages on contiguous groups of whole silos; null = one per silo.</param>
/// <param name="PlanJson">A plan to run as is (checked against the model and the silos' shape; nothing is profiled); null = plan here.</param>
public sealed record PlanRequest(string Model, IReadOnlyList<string> Silos, int Microbatches, string? ClusterJson = null, int? Stages = null,
                                 string? PlanJson = null);

/// <summary>A plan for the silos.</summary>
/// <param name="PlanJson">The plan (DESIGN §6 format).</param>
/// <param name="FromCache">Whether the plan came from the cache.</param>
/// <param name="ClusterJson">The cluster spec planned with (profiled unless the request gave one).</param>
/// <param name="Silos">The silos in device order (as requested): silo i owns devices i·D … i·D + D − 1 of the plan.</param>
/// <param name="DevicesPerSilo">Devices of each silo.</param>
/// <param name="PredictedStepSeconds">The simulator's step time of the plan on that spec.</param>
/// <param name="Profile">What was measured (empty with a given spec).</param>
public sealed record PlanReply(string PlanJson, bool FromCache, string ClusterJson, IReadOnlyList<string> Silos, int DevicesPerSilo,
                               double PredictedStepSeconds, IReadOnlyList<string> Profile);

/// <summary>
/// One per silo (key: the silo address): measures the silo's devices once per silo process (GEMM and copy
/// rates with all its cores, memory per device; well under 2 s) and answers from the cache afterwards.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface IProfilerGrain : IGrain
{
    Task<DeviceProfile> ProfileDevicesAsync(CancellationToken cancellationToken = default);
}

/// <summary>A silo's devices as measured: GEMM FLOP/s and copy bytes/s of the whole silo, memory per device, and how long measuring took.</summary>
public sealed record DeviceProfile(string Silo, int Devices, double GemmFlops, double CopyBytesPerSecond, long MemoryBytesPerDevice,
                                   double MeasureSeconds, bool FromCache);
