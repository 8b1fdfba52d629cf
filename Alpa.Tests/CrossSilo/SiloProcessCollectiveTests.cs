using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Tests.Silo;
using Xunit.Abstractions;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Cross-silo all-reduce between real <c>alpa silo</c> processes (static membership, cluster secret):
/// the right result on three silos; SIGKILL of one silo in the middle of a run fails the others
/// within 10 s naming it, and a new run on the survivors then succeeds.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class SiloProcessCollectiveTests(ITestOutputHelper output)
{
    [Fact]
    public async Task SigkillMidRun_FailsTheOthersNamingTheSilo_ThenTheSurvivorsRunAgain()
    {
        await using var cluster = new TestCluster("static:" + TestCluster.NewAddress());
        var addresses = new[] { cluster.Membership["static:".Length..], TestCluster.NewAddress(), TestCluster.NewAddress() };
        foreach (var a in addresses) await cluster.StartAsync(a, 1);
        await cluster.WaitForAsync(addresses[0], l => l.Silos.Count(s => s.Status == "active") == 3, TimeSpan.FromSeconds(30));
        using var client = await cluster.ConnectAsync(addresses[0]);

        // A correct result first: 3 ranks, one per silo.
        var check = new CollectiveRunRequest(1, addresses, 1, 10_000, 2, 30);
        var replies = await Task.WhenAll(addresses.Select(a => client.GetGrain<ICollectiveGrain>(a).RunAllReduceAsync(check)));
        Assert.All(replies, r => AssertChecksum(CollectiveRunReply.ExpectedChecksum(3, 10_000, 2), r));

        // A long run; the third silo is killed while it is going on.
        var run = new CollectiveRunRequest(2, addresses, 1, 1 << 20, 1_000_000, 30);
        var clock = new Stopwatch();
        var failedAfter = new TimeSpan[2];
        var calls = addresses.Take(2).Select(async (a, i) =>
        {
            try
            {
                await client.GetGrain<ICollectiveGrain>(a).RunAllReduceAsync(run);
                return null;
            }
            catch (GrainCallException e)
            {
                failedAfter[i] = clock.Elapsed;
                return e;
            }
        }).ToList();
        var victim = client.GetGrain<ICollectiveGrain>(addresses[2]).RunAllReduceAsync(run);
        await Task.Delay(1500);
        clock.Start();
        cluster.Silos[2].Kill();
        var errors = await Task.WhenAll(calls);
        await Assert.ThrowsAnyAsync<Exception>(() => victim);
        for (var i = 0; i < 2; i++)
        {
            Assert.NotNull(errors[i]);
            Assert.Contains(addresses[2], errors[i]!.Message);
            Assert.True(failedAfter[i] < TimeSpan.FromSeconds(10), $"silo {i} failed {failedAfter[i].TotalSeconds:0.0} s after the kill");
            output.WriteLine($"silo {i} failed {failedAfter[i].TotalMilliseconds:F0} ms after SIGKILL: {errors[i]!.Message}");
        }

        // The survivors run a new job.
        var again = new CollectiveRunRequest(3, addresses.Take(2).ToList(), 1, 10_000, 2, 30);
        var survivors = await Task.WhenAll(addresses.Take(2).Select(a => client.GetGrain<ICollectiveGrain>(a).RunAllReduceAsync(again)));
        Assert.All(survivors, r => AssertChecksum(CollectiveRunReply.ExpectedChecksum(2, 10_000, 2), r));
    }

    /// <summary>The f32 sums agree with the float64 expectation to 1e-6 relative (summation order).</summary>
    private static void AssertChecksum(double expected, CollectiveRunReply reply) =>
        Assert.True(Math.Abs(reply.Checksum - expected) <= 1e-6 * expected, $"{reply.Silo}: checksum {reply.Checksum} vs {expected}");
}
