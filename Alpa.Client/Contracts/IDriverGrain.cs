namespace Alpa.Client.Contracts;

/// <summary>
/// One per job (key: the job id), placed on the silo the client connected to: ships the job's program
/// to the mesh worker of every stage once, then drives the steps, records per-step loss and time, and
/// fails the job within seconds, naming the silo, when a worker silo dies.
/// </summary>
[GrainPlacement(GrainPlacement.PreferLocal)]
[ReentrantGrain]
public interface IDriverGrain : IGrain
{
    /// <summary>Starts the job described by the request and returns at once (state <c>running</c>); starting the same job again returns its status.</summary>
    Task<JobStatus> StartAsync(StartJobRequest request, CancellationToken cancellationToken = default);

    Task<JobStatus> GetStatusAsync(CancellationToken cancellationToken = default);

    /// <summary>Long-polls progress: returns once a step after <see cref="DriverWatchRequest.AfterStep"/> is done, the job ended, or the wait ran out.</summary>
    Task<DriverProgress> WatchAsync(DriverWatchRequest request, CancellationToken cancellationToken = default);

    /// <summary>Stops the job after the current step and frees its buffers on every worker.</summary>
    Task<JobStatus> CancelAsync(CancellationToken cancellationToken = default);

    /// <summary>The workers' parameter blocks read after the job's last step; fails unless the job is done and was started with <see cref="StartJobRequest.ReadParameters"/>.</summary>
    Task<ParametersReply> ReadParametersAsync(CancellationToken cancellationToken = default);
}

/// <summary>A job to drive.</summary>
/// <param name="JobId">Must equal the driver grain's key.</param>
/// <param name="JobJson">The cluster job (plan, silos in device order, steps, seed, training options) as the silo's <c>ClusterJob</c> JSON.</param>
/// <param name="ReadParameters">Read every parameter from the workers after the last step (for <c>--check</c>; see <see cref="IDriverGrain.ReadParametersAsync"/>).</param>
public sealed record StartJobRequest(string JobId, string JobJson, bool ReadParameters = false);

/// <summary>Progress of a job.</summary>
/// <param name="JobId">The job.</param>
/// <param name="State">One of <c>queued</c>, <c>running</c>, <c>done</c>, <c>failed</c>, <c>cancelled</c>.</param>
/// <param name="Step">Steps finished.</param>
/// <param name="Steps">Steps of the job.</param>
/// <param name="LastLoss">Loss of the last finished step (NaN before the first).</param>
/// <param name="Error">Why the job failed (names the silo), else null.</param>
/// <param name="FailedSilo">Address of the silo blamed for a failure, else null.</param>
/// <param name="DriverSilo">The silo the driver runs on.</param>
public sealed record JobStatus(string JobId, string State, long Step, long Steps, double LastLoss, string? Error, string? FailedSilo, string DriverSilo)
{
    /// <summary>True for <c>done</c>, <c>failed</c> and <c>cancelled</c>.</summary>
    public bool IsFinal => State is "done" or "failed" or "cancelled";
}

/// <summary>Wait for steps after <see cref="AfterStep"/> (1-based; 0 = any), at most <see cref="WaitSeconds"/>.</summary>
public sealed record DriverWatchRequest(long AfterStep, double WaitSeconds);

/// <summary>One finished step: 1-based number, loss, wall seconds, tokens (or samples) per second, seconds of each stage's worker.</summary>
/// <param name="StagePeakBytes">Peak live bytes of one device of each stage during the step.</param>
/// <param name="Events">The workers' timed instructions (driver's clock); kept for the newest step only.</param>
public sealed record DriverStep(long Step, double Loss, double Seconds, double ItemsPerSecond, IReadOnlyList<double> StageSeconds,
                                IReadOnlyList<long>? StagePeakBytes = null, IReadOnlyList<Jobs.TimelineEvent>? Events = null);

/// <summary>The status, the steps after the asked one (in order), and the job's events so far (load, failures, cancel).</summary>
public sealed record DriverProgress(JobStatus Status, IReadOnlyList<DriverStep> Steps, IReadOnlyList<string> Events);
