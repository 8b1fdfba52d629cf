using Alpa.Client.Contracts;
using Alpa.Client.Jobs;
using Alpa.Silo.Hosting;

namespace Alpa.Silo.Jobs;

/// <summary>The silo's <see cref="IJobsGrain"/>: a thin front of the <see cref="JobService"/>.</summary>
public sealed class JobsGrain(JobService jobs) : IJobsGrain, IGrainStateReporter
{
    public Task<JobInfo> SubmitAsync(JobSpec spec, CancellationToken cancellationToken = default) => jobs.SubmitAsync(spec, cancellationToken);

    public Task<JobInfo> GetAsync(JobRef job, CancellationToken cancellationToken = default) => jobs.GetAsync(Id(job), cancellationToken);

    public Task<JobList> ListAsync(CancellationToken cancellationToken = default) => jobs.ListAsync(cancellationToken);

    public Task<JobInfo> CancelAsync(JobRef job, CancellationToken cancellationToken = default) => jobs.CancelAsync(Id(job), cancellationToken);

    public Task<JobEventsPage> GetEventsAsync(JobEventsRequest request, CancellationToken cancellationToken = default) =>
        jobs.GetEventsAsync(request ?? throw JobException.NotFound(""), cancellationToken);

    public Task<JobMetrics> GetMetricsAsync(JobRef job, CancellationToken cancellationToken = default) => jobs.GetMetricsAsync(Id(job), cancellationToken);

    /// <summary>The jobs this silo runs: id, state, current step of total.</summary>
    public object DescribeState() => new
    {
        jobs = jobs.Runs.Select(r => r.Info).Select(i => new { i.Id, i.State, i.Step, steps = i.Spec.Steps, i.Devices }).ToList(),
    };

    private static string Id(JobRef? job) => job?.JobId ?? throw JobException.NotFound("");
}
