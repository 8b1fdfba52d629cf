namespace Alpa.Client.Contracts;

/// <summary>
/// Runs the planner (Alpa.Planner) for a job on any live silo; caches plans by (model, cluster, options).
/// Key: a cache partition name (one activation per name). Its body comes with the planner issue.
/// </summary>
[GrainPlacement(GrainPlacement.AnyLiveSilo)]
public interface IPlannerGrain : IGrain
{
    Task<PlanReply> PlanAsync(PlanRequest request, CancellationToken cancellationToken = default);
}

/// <summary>A model (built-in name or JSON), a cluster spec (JSON) and planner options (JSON).</summary>
public sealed record PlanRequest(string Model, string ClusterJson, string OptionsJson);

/// <summary>The plan JSON (DESIGN §6 format) and whether it came from the cache.</summary>
public sealed record PlanReply(string PlanJson, bool FromCache);
