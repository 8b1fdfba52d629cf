namespace Alpa.Client.Contracts;

/// <summary>
/// One per job (key: the job id), placed on any live silo: places stages on mesh workers, ships
/// their instruction lists once, then drives the steps. Its body comes with the driver issue.
/// </summary>
[GrainPlacement(GrainPlacement.AnyLiveSilo)]
public interface IDriverGrain : IGrain
{
    /// <summary>Starts the job described by the request.</summary>
    Task<JobStatus> StartAsync(StartJobRequest request, CancellationToken cancellationToken = default);

    Task<JobStatus> GetStatusAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops the job after the current step and frees its buffers on every worker.</summary>
    Task<JobStatus> CancelAsync(CancellationToken cancellationToken = default);
}

/// <summary>A job: the plan JSON, the number of steps and the training configuration (JSON).</summary>
public sealed record StartJobRequest(string JobId, string PlanJson, long Steps, string TrainingJson);

/// <summary>Progress of a job. <see cref="State"/> is one of <c>queued</c>, <c>running</c>, <c>done</c>, <c>failed</c>, <c>cancelled</c>.</summary>
public sealed record JobStatus(string JobId, string State, long Step, double LastLoss, string? Error);
