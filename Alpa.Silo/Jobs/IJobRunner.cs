using Alpa.Client.Jobs;

namespace Alpa.Silo.Jobs;

/// <summary>
/// Runs one job on the devices it was given. The job service owns records, events and
/// cancellation; a runner only checks a spec, plans and trains, and reports through
/// <see cref="IJobProgress"/>. <see cref="LocalJobRunner"/> trains in this process (one silo);
/// <see cref="ClusterJobRunner"/> drives a pipeline with one stage per silo; <see cref="RoutedJobRunner"/> picks by the spec.
/// </summary>
public interface IJobRunner
{
    /// <summary>Refuses, with a <see cref="JobException"/> naming the field, a spec this runner cannot run on <paramref name="devices"/>.</summary>
    void Validate(JobSpec spec, IReadOnlyList<string> devices);

    /// <summary>Plans and trains; returns when the last step is done. Throws on failure or cancellation.</summary>
    Task RunAsync(JobRunContext job, IJobProgress progress, CancellationToken cancellationToken);
}

/// <summary>A job handed to a runner: its id, spec, silo and the devices it may use.</summary>
public sealed record JobRunContext(string JobId, JobSpec Spec, string Silo, IReadOnlyList<string> Devices);

/// <summary>What a runner reports while it works.</summary>
public interface IJobProgress
{
    /// <summary>The plan is made; <paramref name="itemUnit"/> is <c>tokens</c> or <c>samples</c>.</summary>
    void Planned(JobPlan plan, string itemUnit);

    /// <summary>A step finished, with its measured timeline and each device's peak live bytes.</summary>
    void StepDone(StepMetrics step, IReadOnlyList<TimelineEvent> timeline, IReadOnlyList<long> devicePeakBytes);

    /// <summary>
    /// Something else happened (<paramref name="kind"/>: a checkpoint, a silo's death, a restore …, see <see cref="JobEventKinds"/>;
    /// never a final kind) after <paramref name="step"/> steps. A step reported again after a restore replaces the lost one.
    /// </summary>
    void Noted(string kind, int step, string message);
}
