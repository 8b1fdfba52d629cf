using System.Net;
using System.Security.Cryptography;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Membership;
using Alpa.Silo.Hosting.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// Several silos' data planes in one process on loopback: each has its own TCP listener, inbox and
/// sender and authenticates with a shared random secret, exactly as in <c>alpa silo</c>, but without
/// the control plane. Tests and <c>alpa bench collectives</c> run cross-silo collectives over them;
/// <see cref="KillAsync"/> stops one the way a dying process would (listener gone, connections closed).
/// </summary>
public sealed class LoopbackSilos : IAsyncDisposable
{
    private readonly Endpoint[] _endpoints;
    private readonly MembershipView _view;

    private LoopbackSilos(Endpoint[] endpoints, MembershipView view)
    {
        _endpoints = endpoints;
        _view = view;
    }

    /// <summary>Advertised address of each silo (<c>127.0.0.1:DATAPORT</c>).</summary>
    public IReadOnlyList<string> Addresses => [.. _endpoints.Select(e => e.Address)];

    /// <summary>The transport of silo <paramref name="index"/>.</summary>
    public DataPlanePeers Peers(int index) => _endpoints[index].Peers;

    /// <summary>The inbox of silo <paramref name="index"/> (to check that a failed job left nothing behind).</summary>
    public TensorInbox Inbox(int index) => _endpoints[index].Inbox;

    /// <summary>Starts <paramref name="count"/> data planes on free loopback ports.</summary>
    public static async Task<LoopbackSilos> StartAsync(int count, PeerWatchOptions? watch = null, CancellationToken cancellationToken = default)
    {
        var secret = ClusterSecret.FromText(Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)));
        var view = new MembershipView();
        var transport = new TransportOptions { Secret = secret, ConnectTimeout = TimeSpan.FromSeconds(2) };
        var endpoints = new Endpoint[count];
        for (var i = 0; i < count; i++)
        {
            var inbox = new TensorInbox(1L << 30);
            var handler = new DataPlaneConnectionHandler(new ReplayGuard(secret, TimeSpan.FromSeconds(30)), inbox, new SiloOptions(),
                NullLogger<DataPlaneConnectionHandler>.Instance);
            var server = new DataPlaneServer(new IPEndPoint(IPAddress.Loopback, 0), handler, null, NullLogger<DataPlaneServer>.Instance);
            await server.StartAsync(cancellationToken).ConfigureAwait(false);
            var address = $"127.0.0.1:{server.Port}";
            var sender = new TensorSender(view, transport);
            endpoints[i] = new Endpoint(address, server, inbox, sender, new DataPlanePeers(address, sender, inbox, view, watch));
        }
        var silos = new LoopbackSilos(endpoints, view);
        silos.Publish(_ => SiloStatus.Active);
        return silos;
    }

    /// <summary>Silo <paramref name="index"/> dies: its listener closes, its connections drop, membership is not told.</summary>
    public async Task KillAsync(int index)
    {
        var e = _endpoints[index];
        if (e.Killed) return;
        e.Killed = true;
        await e.Server.StopAsync(CancellationToken.None).ConfigureAwait(false);
        e.Server.Dispose();
        await e.Sender.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Membership declares silo <paramref name="index"/> dead (its process may still run).</summary>
    public void MarkDead(int index) => Publish(i => i == index ? SiloStatus.Dead : SiloStatus.Active);

    private void Publish(Func<int, SiloStatus> status)
    {
        var now = DateTimeOffset.UtcNow;
        _view.Publish(new MembershipSnapshot([.. _endpoints.Select((e, i) => new MembershipEntry
        {
            Address = e.Address, Epoch = 1, DataPort = e.Server.Port, Devices = ["cpu:0"], Status = status(i),
            LastHeartbeat = now, StartedAt = now,
        })], _view.Snapshot.Version + 1));
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < _endpoints.Length; i++) await KillAsync(i).ConfigureAwait(false);
    }

    private sealed record Endpoint(string Address, DataPlaneServer Server, TensorInbox Inbox, TensorSender Sender, DataPlanePeers Peers)
    {
        public bool Killed { get; set; }
    }
}
