using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Kernels;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>The finished job as its driver reported it: final status, every step, the job's events, and the final parameters when asked for.</summary>
public sealed record DriverRunResult(JobStatus Status, IReadOnlyList<DriverStep> Steps, IReadOnlyList<string> Events,
                                     IReadOnlyDictionary<string, HostTensor>? Parameters = null);

/// <summary>
/// The client's side of a job driven by a <see cref="IDriverGrain"/>: starts the driver, streams its
/// steps to <c>onStep</c> as they finish (long polls), and returns when the job ends. A failed job
/// throws <see cref="ClusterJobException"/> with the driver's error (it names the silo); a driver that
/// stops answering (its silo died) throws one naming the driver's silo. With <c>readParameters</c> the driver
/// reads every parameter from the workers after the last step and the result carries them (for <c>--check</c>).
/// </summary>
public static class DriverClient
{
    /// <summary>How long one progress poll may wait on the driver.</summary>
    public static TimeSpan PollWait { get; } = TimeSpan.FromSeconds(5);

    public static async Task<DriverRunResult> RunAsync(IGrainFactory grains, ClusterJob job, Action<DriverStep>? onStep = null,
        CancellationToken cancellationToken = default, bool readParameters = false)
    {
        ArgumentNullException.ThrowIfNull(grains);
        ArgumentNullException.ThrowIfNull(job);
        var driver = grains.GetGrain<IDriverGrain>(job.JobId);
        var status = await driver.StartAsync(new StartJobRequest(job.JobId, job.ToJson(), readParameters), cancellationToken).ConfigureAwait(false);
        using var cancel = cancellationToken.Register(() => _ = driver.CancelAsync(CancellationToken.None));
        var steps = new List<DriverStep>();
        while (true)
        {
            DriverProgress progress;
            try
            {
                progress = await driver.WatchAsync(new DriverWatchRequest(steps.Count, PollWait.TotalSeconds), CancellationToken.None).ConfigureAwait(false);
            }
            catch (GrainCallException e)
            {
                throw new ClusterJobException($"the driver of job {job.JobId} on silo {status.DriverSilo} stopped answering: {e.Message}", e) { Silo = status.DriverSilo };
            }
            foreach (var step in progress.Steps.Where(s => s.Step > steps.Count))
            {
                steps.Add(step);
                onStep?.Invoke(step);
            }
            status = progress.Status;
            if (!status.IsFinal) continue;
            if (status.State == "failed")
                throw new ClusterJobException(status.Error ?? $"job {job.JobId} failed", null) { Silo = status.FailedSilo };
            if (!readParameters || status.State != "done") return new DriverRunResult(status, steps, progress.Events);
            var blocks = await driver.ReadParametersAsync(cancellationToken).ConfigureAwait(false);
            return new DriverRunResult(status, steps, progress.Events, ClusterChecks.Assemble(blocks.Blocks));
        }
    }
}
