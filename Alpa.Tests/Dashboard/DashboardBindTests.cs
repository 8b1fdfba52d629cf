using System.Net;
using System.Net.Sockets;
using Alpa.Planner;
using Alpa.Silo.Dashboard;
using Alpa.Silo.Hosting;
using Alpa.Tests.Silo;

namespace Alpa.Tests.Dashboard;

/// <summary>
/// The dashboard port is bound while the silo is built, so two silos started at the same moment cannot both pass a
/// "port is free" check: a chosen port that is taken is a typed error naming --dashboard; the default one is skipped
/// with a note.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class DashboardBindTests
{
    [Fact]
    public async Task TwoSilosStartedAtOnce_OnOneDashboardPort_OneServesIt_TheOtherSaysWhichFlagToChange()
    {
        await using var cluster = new TestCluster("memory");
        var dashboard = TestCluster.NewAddress();
        var starts = new[] { TestCluster.NewAddress(), TestCluster.NewAddress() }
            .Select(a => Catch(cluster.StartAsync(a, 1, null, "--dashboard", dashboard))).ToArray();
        var errors = await Task.WhenAll(starts);

        var refused = Assert.Single(errors, e => e is not null)!;
        Assert.Contains("exited with code 2", refused.Message);
        Assert.Contains($"alpa silo: the dashboard endpoint {dashboard} cannot be bound", refused.Message);
        Assert.Contains("give --dashboard ADDR:PORT with a free port, or --dashboard off", refused.Message);
        using var http = new HttpClient();
        using var page = await http.GetAsync(new Uri($"http://{dashboard}/"));
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public void DefaultPortTaken_NoDashboard_WithANote_ChosenPortTaken_TypedError()
    {
        var endpoint = IPEndPoint.Parse(DashboardHost.DefaultEndpoint);
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            holder.Bind(endpoint);
            holder.Listen(1);
        }
        catch (SocketException)
        {
            // Something else holds 8080 already: the default port is taken either way.
        }
        Assert.Null(DashboardBinding.Bind(new SiloOptions { Dashboard = DashboardHost.DefaultEndpoint }, out var note));
        Assert.Equal("port 8080 is taken: this silo serves no dashboard; give --dashboard ADDR:PORT for one", note);

        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        other.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        other.Listen(1);
        var taken = $"127.0.0.1:{((IPEndPoint)other.LocalEndPoint!).Port}";
        var e = Assert.Throws<AlpaException>(() => DashboardBinding.Bind(new SiloOptions { Dashboard = taken }, out _));
        Assert.Equal("--dashboard", e.Field);
        Assert.StartsWith($"the dashboard endpoint {taken} cannot be bound", e.Message);

        Assert.Null(DashboardBinding.Bind(new SiloOptions { Dashboard = "off" }, out note));
        Assert.Null(note);
    }

    private static async Task<Exception?> Catch(Task start)
    {
        try
        {
            await start;
            return null;
        }
        catch (AlpaException e)
        {
            return e;
        }
    }
}
