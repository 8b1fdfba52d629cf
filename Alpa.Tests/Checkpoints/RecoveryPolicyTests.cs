using Alpa.Silo.Checkpoints;

namespace Alpa.Tests.Checkpoints;

/// <summary>The decisions the driver will act on when a silo dies (the multi-silo run is not on this branch).</summary>
public sealed class RecoveryPolicyTests
{
    [Fact]
    public void WaitsForAReplacementThenReplansOnTheSurvivorsFromTheNewestGoodCheckpoint()
    {
        using var f = new CheckpointFixture();
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            foreach (var step in new[] { 4L, 8 }) writer.Save(CheckpointFixture.Snapshot(step));
        f.Corrupt(8);
        var policy = new RecoveryPolicy(new RecoveryOptions { CheckpointDirectory = f.Directory, WaitForReplacement = TimeSpan.FromSeconds(30) });

        var wait = Assert.IsType<WaitForReplacement>(policy.Decide(new SiloFailure("127.0.0.1:7001", 11, 4, 6, TimeSpan.FromSeconds(10))));
        Assert.Equal(TimeSpan.FromSeconds(20), wait.Remaining);

        var replan = Assert.IsType<RestoreAndReplan>(policy.Decide(new SiloFailure("127.0.0.1:7001", 11, 4, 6, TimeSpan.FromSeconds(30))));
        Assert.Equal((4L, 4, 7L), (replan.Step, replan.Devices, replan.LostSteps));
        Assert.Equal([8L], replan.Skipped.Select(s => s.Step));
        Assert.Contains("restoring step 4", replan.Describe(), StringComparison.Ordinal);
        Assert.Equal(1, policy.Recoveries);
    }

    [Fact]
    public void FailsWithAReasonWhenNothingCanContinue()
    {
        using var f = new CheckpointFixture();
        var empty = new RecoveryPolicy(new RecoveryOptions { CheckpointDirectory = f.Directory });
        Assert.Contains("no usable checkpoint", Assert.IsType<FailJob>(empty.Decide(new SiloFailure("a", 3, 2, 4, TimeSpan.Zero))).Reason, StringComparison.Ordinal);

        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            writer.Save(CheckpointFixture.Snapshot(2));
        var strict = new RecoveryPolicy(new RecoveryOptions { CheckpointDirectory = f.Directory, MinDevices = 3, MaxRecoveries = 1 });
        Assert.Contains("fewer than MinDevices 3", Assert.IsType<FailJob>(strict.Decide(new SiloFailure("a", 3, 2, 4, TimeSpan.Zero))).Reason, StringComparison.Ordinal);
        Assert.IsType<RestoreAndReplan>(strict.Decide(new SiloFailure("b", 3, 4, 4, TimeSpan.Zero)));
        Assert.Contains("unstable", Assert.IsType<FailJob>(strict.Decide(new SiloFailure("c", 3, 4, 4, TimeSpan.Zero))).Reason, StringComparison.Ordinal);
    }
}
