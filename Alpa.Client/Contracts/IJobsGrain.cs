using Alpa.Client.Jobs;

namespace Alpa.Client.Contracts;

/// <summary>
/// The job service of one silo (key: the silo address, or <see cref="GrainKeys.Gateway"/>). A job
/// runs on the silo that accepts it; its record is kept in the cluster's PostgreSQL database when
/// the cluster uses one (so any silo can list it and a restart keeps the history), else in memory.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface IJobsGrain : IGrain
{
    /// <summary>Validates the spec, records the job and starts it; returns it in state <c>queued</c>.</summary>
    Task<JobInfo> SubmitAsync(JobSpec spec, CancellationToken cancellationToken = default);

    Task<JobInfo> GetAsync(JobRef job, CancellationToken cancellationToken = default);

    /// <summary>The most recent jobs first (at most 200).</summary>
    Task<JobList> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Stops a queued or running job after its current step.</summary>
    Task<JobInfo> CancelAsync(JobRef job, CancellationToken cancellationToken = default);

    /// <summary>Long-polls the job's events (see <see cref="JobEventsRequest"/>).</summary>
    Task<JobEventsPage> GetEventsAsync(JobEventsRequest request, CancellationToken cancellationToken = default);

    Task<JobMetrics> GetMetricsAsync(JobRef job, CancellationToken cancellationToken = default);
}
