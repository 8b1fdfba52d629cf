namespace Alpa.Silo.Checkpoints;

/// <summary>What the driver knows when membership declares a silo of a job dead.</summary>
/// <param name="DeadSilo">Address of the silo that died.</param>
/// <param name="LastCompletedStep">Steps the job had completed when it was told.</param>
/// <param name="AliveDevices">Devices of the job's silos still alive.</param>
/// <param name="PlannedDevices">Devices the job's current plan uses.</param>
/// <param name="WaitedSoFar">How long the driver has already waited for a replacement for this failure.</param>
public sealed record SiloFailure(string DeadSilo, long LastCompletedStep, int AliveDevices, int PlannedDevices, TimeSpan WaitedSoFar);

/// <summary>Options of automatic recovery (issue 14, deliverable 3).</summary>
public sealed record RecoveryOptions
{
    /// <summary>Checkpoint directory of the job: recovery restores its newest usable checkpoint.</summary>
    public required string CheckpointDirectory { get; init; }
    /// <summary>How long to wait for a replacement silo before re-planning on the survivors; zero re-plans at once.</summary>
    public TimeSpan WaitForReplacement { get; init; } = TimeSpan.Zero;
    /// <summary>Fewest devices worth continuing on; below this the job fails.</summary>
    public int MinDevices { get; init; } = 1;
    /// <summary>Failures tolerated per job before it is failed for good.</summary>
    public int MaxRecoveries { get; init; } = 10;
}

/// <summary>What the driver does next about a failure.</summary>
public abstract record RecoveryAction
{
    /// <summary>One line for the job's event log.</summary>
    public abstract string Describe();
}

/// <summary>Wait (up to <paramref name="Remaining"/>) for a silo to join, then ask again.</summary>
/// <param name="Remaining">Time left of the configured wait.</param>
public sealed record WaitForReplacement(TimeSpan Remaining) : RecoveryAction
{
    public override string Describe() => $"waiting up to {Remaining.TotalSeconds:F0} s for a replacement silo";
}

/// <summary>
/// Ask the Planner for a plan on <paramref name="Devices"/> devices, restore the checkpoint at
/// <paramref name="Path"/> under that plan (<see cref="CheckpointIO.Restore"/> on every worker) and
/// continue from step <paramref name="Step"/>.
/// </summary>
/// <param name="Step">Step of the checkpoint: training continues with the next.</param>
/// <param name="Path">Step directory to restore.</param>
/// <param name="Devices">Devices to plan for.</param>
/// <param name="LostSteps">Completed steps that will be recomputed (at most the checkpoint interval).</param>
/// <param name="Skipped">Newer checkpoints that failed verification.</param>
public sealed record RestoreAndReplan(long Step, string Path, int Devices, long LostSteps, IReadOnlyList<SkippedCheckpoint> Skipped) : RecoveryAction
{
    public override string Describe() =>
        $"re-planning on {Devices} devices and restoring step {Step} from {Path} ({LostSteps} steps to redo" +
        (Skipped.Count > 0 ? $", {Skipped.Count} damaged newer checkpoint(s) skipped)" : ")");
}

/// <summary>The job cannot continue.</summary>
/// <param name="Reason">Why, and what the user can do.</param>
public sealed record FailJob(string Reason) : RecoveryAction
{
    public override string Describe() => "failing the job: " + Reason;
}

/// <summary>
/// The seam between the checkpoint machinery and the driver of a job across silos: on each silo
/// death the driver calls <see cref="Decide"/> and carries out the action (wait for membership to
/// add a silo, or re-plan on the survivors and restore). The decision is made from the failure,
/// the options and the committed checkpoints alone, so it is the same in tests and on a cluster.
/// </summary>
public sealed class RecoveryPolicy(RecoveryOptions options)
{
    private int _recoveries;

    /// <summary>Recoveries decided so far.</summary>
    public int Recoveries => _recoveries;

    public RecoveryAction Decide(SiloFailure failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        if (_recoveries >= options.MaxRecoveries)
            return new FailJob($"{_recoveries} recoveries already (MaxRecoveries {options.MaxRecoveries}); the cluster is unstable");
        if (failure.AliveDevices < failure.PlannedDevices && failure.WaitedSoFar < options.WaitForReplacement)
            return new WaitForReplacement(options.WaitForReplacement - failure.WaitedSoFar);
        if (failure.AliveDevices < options.MinDevices)
            return new FailJob($"{failure.AliveDevices} devices alive after {failure.DeadSilo} died, fewer than MinDevices {options.MinDevices}; add silos and resume with --resume {options.CheckpointDirectory}");
        Checkpoint checkpoint;
        IReadOnlyList<SkippedCheckpoint> skipped;
        try
        {
            (checkpoint, skipped) = CheckpointStore.OpenLatest(options.CheckpointDirectory);
        }
        catch (CheckpointException e)
        {
            return new FailJob(e.Message);
        }
        _recoveries++;
        var devices = Math.Min(failure.AliveDevices, failure.PlannedDevices);
        return new RestoreAndReplan(checkpoint.Step, checkpoint.Path, devices, Math.Max(0, failure.LastCompletedStep - checkpoint.Step), skipped);
    }
}
