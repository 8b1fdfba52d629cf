using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Silo.Execution.Collectives;
using Xunit.Abstractions;
using static Alpa.Tests.CrossSilo.CrossSiloHarness;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// A silo dying in the middle of a job fails every other silo's pending collective within seconds with
/// an error naming it; a silent silo fails the call at its deadline; the survivors then run a new job.
/// </summary>
public sealed class CrossSiloFailureTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task KilledSilo_FailsEveryOtherSilosCollective_NamingIt_AndTheSurvivorsRunANewJob()
    {
        await using var silos = await LoopbackSilos.StartAsync(3);
        var clock = new Stopwatch();
        var failedAfter = new TimeSpan[3];
        var errors = Run(silos, silos.Addresses, (s, comm) =>
        {
            using var device = new CpuDevice(s);
            using var t = Filled(device, [256, 256], Values(s, 65536, 1));
            for (var step = 0; step < 100_000; step++)
            {
                if (s == 2 && step == 3)
                {
                    clock.Start();
                    silos.KillAsync(2).GetAwaiter().GetResult();
                    return;
                }
                try
                {
                    comm.AllReduce([0, 1, 2], [t]);
                }
                finally
                {
                    failedAfter[s] = clock.Elapsed;
                }
            }
        });
        Assert.Null(errors[2]);
        for (var s = 0; s < 2; s++)
        {
            var e = Assert.IsType<SiloFailedException>(errors[s]);
            Assert.Equal(silos.Addresses[2], e.Silo);
            Assert.Contains(silos.Addresses[2], e.Message);
            Assert.True(failedAfter[s] < Bound, $"silo {s} failed {failedAfter[s].TotalSeconds:0.0} s after the kill");
            output.WriteLine($"silo {s} failed {failedAfter[s].TotalMilliseconds:F0} ms after the kill: {e.Message}");
        }
        AssertNewJobSucceeds(silos);
    }

    [Fact]
    public async Task SiloDeclaredDead_FailsCollectivesWaitingOnIt()
    {
        await using var silos = await LoopbackSilos.StartAsync(3);
        var clock = new Stopwatch();
        var failedAfter = new TimeSpan[3];
        var errors = Run(silos, silos.Addresses, (s, comm) =>
        {
            using var device = new CpuDevice(s);
            using var t = Filled(device, [1000], Values(s, 1000, 2));
            comm.AllReduce([0, 1, 2], [t]);
            if (s == 2)
            {
                clock.Start();
                silos.MarkDead(2);
                return;
            }
            try
            {
                comm.AllReduce([0, 1, 2], [t]);
            }
            finally
            {
                failedAfter[s] = clock.Elapsed;
            }
        });
        for (var s = 0; s < 2; s++)
        {
            var e = Assert.IsType<SiloFailedException>(errors[s]);
            Assert.Equal(silos.Addresses[2], e.Silo);
            Assert.Contains("membership", e.Message);
            Assert.True(failedAfter[s] < Bound, $"silo {s} failed {failedAfter[s].TotalSeconds:0.0} s after membership said dead");
            output.WriteLine($"silo {s} failed {failedAfter[s].TotalMilliseconds:F0} ms after membership said dead: {e.Message}");
        }
    }

    [Fact]
    public async Task SilentLiveSilo_FailsTheCallAtItsDeadline_AndItsLeftoversAreDropped()
    {
        await using var silos = await LoopbackSilos.StartAsync(2);
        var options = new CollectiveOptions { Tag = 7, CallTimeout = TimeSpan.FromSeconds(1.5) };
        var clock = Stopwatch.StartNew();
        var errors = Run(silos, silos.Addresses, (s, comm) =>
        {
            using var device = new CpuDevice(s);
            using var t = Filled(device, [1000], Values(s, 1000, 3));
            if (s == 1)
            {
                Thread.Sleep(2500); // alive and answering probes, but never joins the call
                return;
            }
            comm.AllReduce([0, 1], [t]);
        }, options);
        var e = Assert.IsType<CollectiveTimeoutException>(errors[0]);
        Assert.Equal(silos.Addresses[1], e.Silo);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.4, 10);
        // Silo 1 received silo 0's chunk for a call it never made; closing its communicator dropped it.
        Assert.Equal(0, silos.Inbox(1).UnclaimedBytes);
    }

    private static void AssertNewJobSucceeds(LoopbackSilos silos)
    {
        var survivors = new[] { silos.Addresses[0], silos.Addresses[1] };
        var sums = new float[2];
        var errors = Run(silos, [.. survivors, silos.Addresses[2]], (s, comm) =>
        {
            if (s == 2) return;
            using var device = new CpuDevice(s);
            using var t = Filled(device, [8], [.. Enumerable.Repeat(s + 1f, 8)]);
            comm.AllReduce([0, 1], [t]);
            sums[s] = t.Floats()[7];
        }, new CollectiveOptions { Tag = 2 });
        Assert.Null(errors[0]);
        Assert.Null(errors[1]);
        Assert.Equal([3f, 3f], sums);
    }
}
