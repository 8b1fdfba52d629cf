using System.Net;
using System.Net.Sockets;
using System.Buffers.Binary;
using Alpa.Client;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.DataPlane;

namespace Alpa.Tests.Silo;

/// <summary>Every call and data-plane stream must prove the cluster secret; deadlines and cancellation reach the silo.</summary>
[Collection(SiloProcessCollection.Name)]
public sealed class AuthTests
{
    private const string InfoPath = "/grain/ISiloGrain/gateway/GetInfoAsync";

    [Fact]
    public async Task Calls_WithoutWrongOrReplayedSignatures_AreRejected_AndTheRightSecretWorks()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        var silo = await cluster.StartAsync(address, 1);
        using var http = NewH2cClient();

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(Post(address, InfoPath))).StatusCode);

        var wrong = ClusterSecret.FromText("not-the-cluster-secret-at-all");
        await Assert.ThrowsAsync<UnauthorizedCallException>(() => AlpaClient.ConnectAsync(address, wrong));

        var (ts, nonce, sig) = CallSignature.Create(cluster.Secret!, "POST", InfoPath, CallSignature.NowMs());
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(Signed(Post(address, InfoPath), ts, nonce, sig))).StatusCode);
        var replay = await http.SendAsync(Signed(Post(address, InfoPath), ts, nonce, sig));
        Assert.Equal(HttpStatusCode.Unauthorized, replay.StatusCode);
        Assert.Contains("replayed nonce", await replay.Content.ReadAsStringAsync());

        var stale = CallSignature.Create(cluster.Secret!, "POST", InfoPath, CallSignature.NowMs() - 120_000);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(Signed(Post(address, InfoPath), stale.Timestamp, stale.Nonce, stale.Signature))).StatusCode);

        var otherPath = CallSignature.Create(cluster.Secret!, "POST", "/grain/ISiloGrain/gateway/PingAsync", CallSignature.NowMs());
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.SendAsync(Signed(Post(address, InfoPath), otherPath.Timestamp, otherPath.Nonce, otherPath.Signature))).StatusCode);

        using var client = await cluster.ConnectAsync(address);
        Assert.Equal(address, client.Gateway.Address);
        Assert.False(client.Gateway.Insecure);
        Assert.Equal(1, (await client.GetGrain<ISiloGrain>(address).PingAsync(new PingRequest(silo.Epoch))).Epoch);

        Assert.Equal(1, await DataPlaneHandshakeAsync(client.Gateway.DataPort, wrong));
        Assert.Equal(1, await DataPlaneHandshakeAsync(client.Gateway.DataPort, null));
        Assert.Equal(0, await DataPlaneHandshakeAsync(client.Gateway.DataPort, cluster.Secret));

        await Task.Delay(300);
        Assert.True(silo.Log.Split('\n').Count(l => l.Contains("Rejected call", StringComparison.Ordinal)) >= 5, silo.Log);
        Assert.Contains("rejected handshake", silo.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deadlines_AndCancellation_StopLongCalls()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        await cluster.StartAsync(address, 1);
        using var client = await cluster.ConnectAsync(address);
        var silo = client.GetGrain<ISiloGrain>(address);
        var longProbe = new LinkProbeRequest(address, 64 << 20, 1000);

        using (GrainCallContext.WithDeadline(TimeSpan.FromMilliseconds(300)))
        {
            await Assert.ThrowsAsync<DeadlineExceededException>(() => silo.MeasureLinkAsync(longProbe));
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => silo.MeasureLinkAsync(longProbe, cts.Token));

        // The silo notices the abandoned calls on its own time (slow under load): poll, bounded.
        var probe = await Eventually(async () => (await silo.GetMetricsAsync()).Methods.Single(m => m.Grain == "ISiloGrain" && m.Method == "MeasureLinkAsync"),
            p => p.Errors == 2);
        Assert.Equal((2L, 2L), (probe.Calls, probe.Errors));
        var ping = await silo.PingAsync(new PingRequest(0));
        Assert.Equal(address, ping.Address);

        // The rolling file holds JSON lines with the structured properties silo and grain.
        var deadlineLine = await Eventually(
            () => Task.FromResult(cluster.LogFile(address).Split('\n').FirstOrDefault(l => l.Contains("exceeded its deadline", StringComparison.Ordinal))),
            l => l is not null);
        Assert.NotNull(deadlineLine);
        using var json = System.Text.Json.JsonDocument.Parse(deadlineLine);
        var properties = json.RootElement.GetProperty("Properties");
        Assert.Equal(address, properties.GetProperty("silo").GetString());
        Assert.Equal($"ISiloGrain/{address}", properties.GetProperty("grain").GetString());
    }

    [Fact]
    public async Task DevelopmentMode_OnLoopbackOnly_AndSaysSoLoudly()
    {
        await using var cluster = new TestCluster("memory", withSecret: false);
        var address = TestCluster.NewAddress();
        var dashboard = TestCluster.NewAddress();
        var silo = await cluster.StartAsync(address, 2, null, "--dashboard", dashboard);
        Assert.Contains("DEVELOPMENT MODE", silo.Log, StringComparison.Ordinal);
        using var client = await AlpaClient.ConnectAsync(address, (ClusterSecret?)null);
        Assert.True(client.Gateway.Insecure);

        using var http = new HttpClient();
        using var membership = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync($"http://{dashboard}/api/membership"));
        var row = membership.RootElement.GetProperty("silos").EnumerateArray().Single();
        Assert.Equal((address, "active", 2), (row.GetProperty("address").GetString(), row.GetProperty("status").GetString(), row.GetProperty("devices").GetArrayLength()));
        Assert.Contains("GetInfoAsync", await http.GetStringAsync($"http://{dashboard}/api/metrics"), StringComparison.Ordinal);

        var port = Alpa.Silo.Hosting.Bench.SiloProcess.FreePort();
        var (code, _, stderr) = await TestCluster.RunAlpaAsync(null, "silo", "--listen", $"0.0.0.0:{port}", "--advertise", $"127.0.0.1:{port}", "--devices", "cpu:1");
        Assert.NotEqual(0, code);
        Assert.Contains("no cluster secret", stderr, StringComparison.Ordinal);
    }

    private static HttpClient NewH2cClient() => new(new SocketsHttpHandler { UseProxy = false })
    {
        DefaultRequestVersion = HttpVersion.Version20,
        DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
    };

    private static HttpRequestMessage Post(string address, string path) =>
        new(HttpMethod.Post, $"http://{address}{path}")
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent([]),
        };

    private static HttpRequestMessage Signed(HttpRequestMessage message, string ts, string nonce, string sig)
    {
        message.Headers.Add(CallSignature.TimestampHeader, ts);
        message.Headers.Add(CallSignature.NonceHeader, nonce);
        message.Headers.Add(CallSignature.SignatureHeader, sig);
        return message;
    }

    /// <summary>Opens a data-plane stream and returns the handshake status byte (0 accepted).</summary>
    private static async Task<int> DataPlaneHandshakeAsync(int port, ClusterSecret? secret)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        var hello = new byte[5 + CallSignature.HandshakeBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, TensorFrame.HandshakeMagic);
        hello[4] = TensorFrame.Version;
        CallSignature.WriteHandshake(secret, hello.AsSpan(5));
        await socket.SendAsync(hello);
        var status = new byte[1];
        return await socket.ReceiveAsync(status) == 1 ? status[0] : -1;
    }

    /// <summary>Re-reads <paramref name="read"/> every 100 ms until <paramref name="done"/> holds or 15 s pass; returns the last value.</summary>
    private static async Task<T> Eventually<T>(Func<Task<T>> read, Func<T, bool> done)
    {
        var value = await read();
        for (var i = 0; i < 150 && !done(value); i++)
        {
            await Task.Delay(100);
            value = await read();
        }
        return value;
    }
}
