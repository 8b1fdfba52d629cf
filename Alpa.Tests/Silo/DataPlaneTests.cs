using System.Net;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Planner.Graph;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Membership;
using Alpa.Silo.Hosting.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Alpa.Tests.Silo;

/// <summary>Tensors over a real data-plane listener: expected and early transfers, tiles, and a wrong secret.</summary>
public sealed class DataPlaneTests
{
    private static readonly ClusterSecret Secret = ClusterSecret.FromText("data-plane-test-secret");
    private const string Peer = "127.0.0.1:1";

    [Fact]
    public async Task Tensors_ArriveIntact_WhetherExpectedBeforeOrAfter()
    {
        var inbox = new TensorInbox(64L << 20);
        await using var plane = await StartAsync(inbox, Secret);
        await using var sender = new TensorSender(plane.View, new TransportOptions { Secret = Secret });

        var expected = Payload(3 * 1024 * 1024 + 12, seed: 1);
        var destination = new byte[expected.Length];
        var waiting = inbox.ReceiveAsync(41, destination, CancellationToken.None);
        await sender.SendAsync(Peer, Header(41, expected.Length, tile: 0, tiles: 2), expected, CancellationToken.None);
        var received = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(expected, destination);
        Assert.Equal((0, 2), (received.Header.TileIndex, received.Header.TileCount));

        var early = Payload(4096, seed: 2);
        await sender.SendAsync(Peer, Header(42, early.Length, tile: 1, tiles: 2), early, CancellationToken.None);
        var late = new byte[early.Length];
        var claimed = await inbox.ReceiveAsync(42, late, CancellationToken.None);
        Assert.Equal(early, late);
        Assert.Equal(DType.F32, claimed.Header.DType);
        Assert.Equal([early.Length / 4L], claimed.Header.Shape);
    }

    [Fact]
    public async Task WrongSecret_IsRefused()
    {
        await using var plane = await StartAsync(new TensorInbox(1 << 20), Secret);
        await using var sender = new TensorSender(plane.View, new TransportOptions { Secret = ClusterSecret.FromText("another-secret-entirely") });
        var e = await Assert.ThrowsAsync<TensorTransferException>(() =>
            sender.SendAsync(Peer, Header(1, 16, 0, 1), new byte[16], CancellationToken.None));
        Assert.Contains("refused the data-plane handshake", e.Message);
    }

    private static TensorHeader Header(ulong id, int bytes, int tile, int tiles) =>
        new(id, DType.F32, TensorFrameFlags.None, [bytes / 4], tile, tiles, bytes);

    private static byte[] Payload(int bytes, int seed)
    {
        var payload = new byte[bytes];
        new Random(seed).NextBytes(payload);
        return payload;
    }

    private static async Task<Plane> StartAsync(TensorInbox inbox, ClusterSecret secret)
    {
        var handler = new DataPlaneConnectionHandler(new ReplayGuard(secret, TimeSpan.FromSeconds(30)), inbox, new SiloOptions(),
            NullLogger<DataPlaneConnectionHandler>.Instance);
        var server = new DataPlaneServer(new IPEndPoint(IPAddress.Loopback, 0), handler, null, NullLogger<DataPlaneServer>.Instance);
        await server.StartAsync(CancellationToken.None);
        var view = new MembershipView();
        view.Publish(new MembershipSnapshot([new MembershipEntry
        {
            Address = Peer, Epoch = 1, DataPort = server.Port, Devices = ["cpu:0"], Status = SiloStatus.Active,
            LastHeartbeat = DateTimeOffset.UtcNow, StartedAt = DateTimeOffset.UtcNow,
        }], 1));
        return new Plane(server, view);
    }

    private sealed record Plane(DataPlaneServer Server, MembershipView View) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Server.StopAsync(CancellationToken.None);
            Server.Dispose();
        }
    }
}
