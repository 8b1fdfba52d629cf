using Alpa.Planner.Cluster;

namespace Alpa.Tests.Planner;

/// <summary><see cref="ProfiledCluster.Combine"/>: silos' device profiles and measured links → the cluster spec the PlannerGrain plans with.</summary>
public sealed class ProfiledClusterTests
{
    [Fact]
    public void SilosOnOneMachineShareItsCores_TheSlowestLinkAndLargestLatencyCount()
    {
        SiloDeviceProfile[] silos =
        [
            new("10.0.0.1:7000", 2, 100e9, 8e9, 4L << 30),
            new("10.0.0.1:7001", 2, 120e9, 9e9, 6L << 30),
            new("10.0.0.2:7000", 2, 300e9, 20e9, 8L << 30),
        ];
        SiloLinkProfile[] links = [new("10.0.0.1:7000", "10.0.0.1:7001", 50e-6, 3e9), new("10.0.0.1:7001", "10.0.0.2:7000", 200e-6, 1e9)];
        var spec = ProfiledCluster.Combine(silos, links);
        Assert.Equal((3, 2), (spec.Hosts, spec.DevicesPerHost));
        // 10.0.0.1 holds two silos of 2 devices each: 100 GFLOP/s / (2 · 2) is the slowest device.
        Assert.Equal(25e9, spec.Device.PeakF32Flops, 1e-6);
        Assert.Equal(2e9, spec.Device.MemoryBytesPerSecond, 1e-6);
        Assert.Equal(4L << 30, spec.Device.MemoryBytes);
        Assert.Equal(1e9, spec.InterHostBytesPerSecond);
        Assert.Equal(200e-6, spec.Calibration.InterHostAlphaSeconds);
        Assert.Contains("profiled", spec.Calibration.Source);
    }

    [Fact]
    public void OneSiloWithoutLinks_UsesItsCopyRate_UnequalDeviceCountsAreRefusedNamingTheSilos()
    {
        var one = ProfiledCluster.Combine([new("[::1]:7000", 4, 80e9, 8e9, 1L << 30)], []);
        Assert.Equal(20e9, one.Device.PeakF32Flops, 1e-6);
        Assert.Equal("[::1]", ProfiledCluster.HostOf("[::1]:7000"));
        var error = Assert.Throws<ClusterSpecException>(() => ProfiledCluster.Combine(
            [new("a:1", 1, 1e9, 1e9, 1 << 20), new("b:1", 2, 1e9, 1e9, 1 << 20)], []));
        Assert.Contains("a:1: 1, b:1: 2", error.Message);
    }
}
