using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;

namespace Alpa.Tests.Silo;

/// <summary>
/// Static membership without its seed: three real silo processes under <c>static:A</c>; A (the seed, which holds
/// the table, and the client's gateway) is SIGKILLed. B and C both list A dead, a new silo joins naming B (not the
/// seed), a client connected to A keeps working through another silo, A restarted with <c>static:A,B</c> rejoins
/// under a new epoch, and with every silo gone the client fails with a typed error.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class SeedFailoverTests
{
    /// <summary>Default dead-after time (8 s) plus two probe periods and slack for a loaded machine.</summary>
    private static readonly TimeSpan TakeoverBound = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task SeedKilled_OthersDeclareItDead_AJoinerNamingANonSeedIsListed_TheSeedRejoins()
    {
        var (a, b, c, d) = (TestCluster.NewAddress(), TestCluster.NewAddress(), TestCluster.NewAddress(), TestCluster.NewAddress());
        await using var cluster = new TestCluster($"static:{a}");
        var seed = await cluster.StartAsync(a, 1);
        await cluster.StartAsync(b, 1);
        await cluster.StartAsync(c, 1);
        await cluster.WaitForAsync(a, l => l.Silos.Count(s => s.Status == "active") == 3, TimeSpan.FromSeconds(20));
        using var client = await cluster.ConnectAsync(a);
        Assert.Equal(new[] { a, b, c }.Order(StringComparer.Ordinal), client.KnownSilos.Order(StringComparer.Ordinal));

        seed.Kill();
        foreach (var observer in new[] { b, c })
        {
            await cluster.WaitForAsync(observer, l => l.Silos.Any(s => s.Address == a && s.Status == "dead")
                && l.Silos.Count(s => s.Status == "active") == 2, TakeoverBound);
        }
        // A client given a list takes the first silo that answers.
        using (var listed = await AlpaClient.ConnectAsync($"{a},{c}", cluster.Secret))
        {
            Assert.Equal(c, listed.Gateway.Address);
        }
        // The client's gateway died: its next call goes to another silo, which sees the same table.
        var seen = await client.GetClusterAsync();
        Assert.NotEqual(a, client.Gateway.Address);
        Assert.Contains(seen.Silos, s => s.Address == a && s.Status == "dead");

        cluster.Membership = $"static:{b}";
        await cluster.StartAsync(d, 1);
        foreach (var observer in new[] { b, c, d })
        {
            await cluster.WaitForAsync(observer, l => l.Silos.Any(s => s.Address == d && s.Status == "active"), TimeSpan.FromSeconds(10));
        }

        cluster.Membership = $"static:{a},{b}";
        var back = await cluster.StartAsync(a, 1);
        Assert.Equal(2, back.Epoch);
        var listing = await cluster.WaitForAsync(c, l => l.Silos.Count(s => s.Status == "active") == 4, TimeSpan.FromSeconds(10));
        Assert.Equal(new[] { (a, 1L, "dead"), (a, 2L, "active"), (b, 1L, "active"), (c, 1L, "active"), (d, 1L, "active") }.Order(),
            listing.Silos.Select(s => (s.Address, s.Epoch, s.Status)).Order());
        await client.GetClusterAsync();
        Assert.Contains(d, client.KnownSilos);

        foreach (var silo in cluster.Silos) silo.Kill();
        using var deadline = GrainCallContext.WithDeadline(TimeSpan.FromSeconds(3));
        var none = await Assert.ThrowsAsync<ClusterUnavailableException>(() => client.GetClusterAsync());
        Assert.Contains("no silo of the cluster answers", none.Message);
        Assert.Equal(new[] { a, b, c, d }.Order(StringComparer.Ordinal), none.Tried.Distinct().Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// The seed of two silos dies; the other takes the table over. The seed restarted naming only itself starts a
    /// table of its own, then hands over when the primary (which lists it as a seed) exchanges claims with it, and
    /// rejoins the running cluster with a new epoch.
    /// </summary>
    [Fact]
    public async Task SeedRestartedAlone_HandsOverToTheTakenOverTable_AndRejoins()
    {
        var (a, b) = (TestCluster.NewAddress(), TestCluster.NewAddress());
        await using var cluster = new TestCluster($"static:{a}");
        var seed = await cluster.StartAsync(a, 1);
        await cluster.StartAsync(b, 1);
        await cluster.WaitForAsync(b, l => l.Silos.Count(s => s.Status == "active") == 2, TimeSpan.FromSeconds(20));
        seed.Kill();
        await cluster.WaitForAsync(b, l => l.Silos.Any(s => s.Address == a && s.Status == "dead"), TakeoverBound);

        var restarted = await cluster.StartAsync(a, 1);
        Assert.Equal(1, restarted.Epoch); // a table of its own at first
        var listing = await cluster.WaitForAsync(a, l => l.Silos.Any(s => s.Address == b && s.Status == "active")
            && l.Silos.Any(s => s.Address == a && s.Epoch == 2 && s.Status == "active"), TimeSpan.FromSeconds(20));
        Assert.Equal(new[] { (a, 1L, "dead"), (a, 2L, "active"), (b, 1L, "active") }.Order(), listing.Silos.Select(s => (s.Address, s.Epoch, s.Status)).Order());
        Assert.Contains("Handed the static membership table over to " + b, restarted.Log);
    }

    [Fact]
    public void Claims_LargerTermWins_ThenTheSmallerAddress_AnyClaimBeatsNone()
    {
        var (old, newer) = (new PrimaryClaim("127.0.0.1:9", 1), new PrimaryClaim("127.0.0.1:8", 2));
        Assert.True(newer.Beats(old));
        Assert.False(old.Beats(newer));
        Assert.True(new PrimaryClaim("127.0.0.1:1", 2).Beats(new PrimaryClaim("127.0.0.1:2", 2)));
        Assert.False(newer.Beats(newer));
        Assert.True(old.Beats(PrimaryClaim.None));
        Assert.False(PrimaryClaim.None.Beats(old));
    }
}
