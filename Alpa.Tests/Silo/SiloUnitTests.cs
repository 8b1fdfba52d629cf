using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Membership;
using Alpa.Silo.Hosting.Transport;

namespace Alpa.Tests.Silo;

public sealed class TensorFrameTests
{
    [Fact]
    public void Header_RoundTrips()
    {
        var header = new TensorHeader(0xDEADBEEF12345678, DType.BF16, TensorFrameFlags.Probe, [3, 5, 7], 2, 4, 3 * 5 * 7 * 2);
        var buffer = new byte[TensorFrame.PrefixBytes + TensorFrame.MaxHeaderBytes];
        var written = TensorFrame.Write(header, buffer);
        var length = TensorFrame.ParsePrefix(buffer);
        Assert.Equal(written, TensorFrame.PrefixBytes + length);
        var parsed = TensorFrame.ParseHeader(buffer.AsSpan(TensorFrame.PrefixBytes, length), long.MaxValue);
        Assert.Equal((header.TransferId, header.DType, header.Flags, header.TileIndex, header.TileCount, header.PayloadBytes),
            (parsed.TransferId, parsed.DType, parsed.Flags, parsed.TileIndex, parsed.TileCount, parsed.PayloadBytes));
        Assert.Equal(header.Shape, parsed.Shape);
    }

    [Theory]
    [InlineData(new long[] { 4 }, 17, 1000)]                     // payload does not match the shape
    [InlineData(new long[] { 1L << 40, 1L << 40 }, 0, 1000)]     // shape overflows
    [InlineData(new long[] { 1024 }, 4096, 1000)]                // over the limit
    public void Header_RejectsInconsistentSizes(long[] shape, long payload, long limit)
    {
        var buffer = new byte[TensorFrame.PrefixBytes + TensorFrame.MaxHeaderBytes];
        var header = new TensorHeader(1, DType.F32, TensorFrameFlags.None, shape, 0, 1, payload);
        var written = TensorFrame.Write(header, buffer);
        Assert.Throws<TensorFrameException>(() => TensorFrame.ParseHeader(buffer.AsSpan(TensorFrame.PrefixBytes, written - TensorFrame.PrefixBytes), limit));
    }
}

public sealed class ReplayGuardTests
{
    private static readonly ClusterSecret Secret = ClusterSecret.FromText("replay-guard-secret-123");

    [Fact]
    public void AcceptsOnce_RejectsReplayStaleAndForged()
    {
        var guard = new ReplayGuard(Secret, TimeSpan.FromSeconds(30));
        var (ts, nonce, sig) = CallSignature.Create(Secret, "POST", "/grain/A/k/M", CallSignature.NowMs());
        Assert.Null(guard.Check("POST", "/grain/A/k/M", ts, nonce, sig));
        Assert.Equal("replayed nonce", guard.Check("POST", "/grain/A/k/M", ts, nonce, sig));
        Assert.Equal("wrong signature", guard.Check("POST", "/grain/A/k/Other", ts, CallSignature.NewNonce(), sig));
        var old = CallSignature.Create(Secret, "POST", "/p", CallSignature.NowMs() - 60_000);
        Assert.Contains("replay window", guard.Check("POST", "/p", old.Timestamp, old.Nonce, old.Signature));
        Assert.Equal("missing signature headers", guard.Check("POST", "/p", null, null, null));
        Assert.Equal("malformed signature", guard.Check("POST", "/p", ts, CallSignature.NewNonce(), "!!"));
    }

    [Fact]
    public void ShortSecrets_AreRefusedWithAHint()
    {
        var e = Assert.Throws<SecretException>(() => ClusterSecret.FromText("short"));
        Assert.Contains("at least 16", e.Message);
    }
}

public sealed class MembershipTableTests
{
    private static MembershipEntry Row(string address, long epoch) => new()
    {
        Address = address, Epoch = epoch, DataPort = 1, Devices = ["cpu:0"], Status = SiloStatus.Joining,
        LastHeartbeat = DateTimeOffset.UtcNow, StartedAt = DateTimeOffset.UtcNow,
    };

    [Fact]
    public Task InMemory_HasOptimisticConcurrency() => CheckConcurrencyAsync(new InMemoryMembershipTable());

    [PostgresFact]
    public async Task Postgres_HasOptimisticConcurrency()
    {
        var table = new PostgresMembershipTable(PostgresFactAttribute.ConnectionString!, "unit-" + Guid.NewGuid().ToString("N")[..8],
            new ClusterAdmission(null, CreateCluster: true));
        await using (table)
        {
            await table.InitializeAsync(CancellationToken.None);
            await table.InitializeAsync(CancellationToken.None);
            await CheckConcurrencyAsync(table);
        }
    }

    private static async Task CheckConcurrencyAsync(IMembershipTable table)
    {
        var none = CancellationToken.None;
        var empty = await table.ReadAllAsync(none);
        Assert.Empty(empty.Entries);
        Assert.True(await table.InsertAsync(Row("a:1", 1), empty.Version, none));
        Assert.False(await table.InsertAsync(Row("b:1", 1), empty.Version, none));      // stale version
        var one = await table.ReadAllAsync(none);
        Assert.Equal(empty.Version + 1, one.Version);
        Assert.False(await table.InsertAsync(Row("a:1", 1), one.Version, none));        // duplicate row
        var row = one.Find("a:1", 1)!;
        Assert.True(await table.UpdateAsync(row with { Status = SiloStatus.Active }, row.ETag, one.Version, none));
        Assert.False(await table.UpdateAsync(row with { Status = SiloStatus.Dead }, row.ETag, one.Version + 1, none)); // stale etag
        var two = await table.ReadAllAsync(none);
        var at = DateTimeOffset.UtcNow.AddMinutes(1);
        await table.HeartbeatAsync("a:1", 1, at, none);
        var three = await table.ReadAllAsync(none);
        Assert.Equal(two.Version, three.Version);
        Assert.Equal(SiloStatus.Active, three.Find("a:1", 1)!.Status);
        Assert.Equal(["cpu:0"], three.Find("a:1", 1)!.Devices);
        Assert.True(Math.Abs((three.Find("a:1", 1)!.LastHeartbeat - at).TotalMilliseconds) < 1);
    }
}

public sealed class SiloCommandLineTests
{
    [Fact]
    public void SiloFlags_BecomeConfigurationKeys()
    {
        var settings = SiloCommandLine.ParseSilo(["--listen", "127.0.0.1:7000", "--devices=cpu:4", "--membership", "static:127.0.0.1:7000", "--cluster-id", "c1"]);
        Assert.Equal("127.0.0.1:7000", settings["Silo:Listen"]);
        Assert.Equal("cpu:4", settings["Silo:Devices"]);
        Assert.Equal("static:127.0.0.1:7000", settings["Silo:Membership"]);
        Assert.Equal("c1", settings["Silo:ClusterId"]);
    }

    [Fact]
    public void Mistakes_SayWhatToFix()
    {
        Assert.Contains("unknown option '--lisen'", Assert.Throws<AlpaException>(() => SiloCommandLine.ParseSilo(["--lisen", "x"])).Message);
        Assert.Contains("needs a value", Assert.Throws<AlpaException>(() => SiloCommandLine.ParseSilo(["--listen"])).Message);
        Assert.Contains("--connect", Assert.Throws<AlpaException>(() => SiloCommandLine.ParseCluster(["--json"])).Message);
        Assert.Contains("cpu:N", Assert.Throws<AlpaException>(() => DeviceSpec.Parse("tpu:3")).Message);
        Assert.Contains("ADDR:PORT", Assert.Throws<AlpaException>(() => Endpoints.Parse("localhost", "--listen")).Message);
        Assert.Equal(["cpu:0", "cpu:1", "cpu:2"], DeviceSpec.Parse("cpu:3"));
        var cluster = SiloCommandLine.ParseCluster(["--connect", "h:1", "--json", "--secret-file", "f"]);
        Assert.Equal(new SiloCommandLine.ClusterCommand("h:1", "f", null, true), cluster);
    }
}

public sealed class GrainContractTests
{
    public interface IOverloaded : IGrain
    {
        Task A(EchoRequest r, CancellationToken ct = default);
        Task A(PingRequest r, CancellationToken ct = default);
    }

    public interface ITwoArguments : IGrain
    {
        Task<EchoReply> B(EchoRequest a, EchoRequest b);
    }

    public interface INotATask : IGrain
    {
        int C();
    }

    [Fact]
    public void Interfaces_AreChecked()
    {
        var info = GrainInterfaceInfo.For(typeof(ISiloGrain));
        Assert.Equal(GrainPlacement.SiloKeyed, info.Placement);
        Assert.True(info.Reentrant);
        Assert.Equal(typeof(PingRequest), info.Methods["PingAsync"].RequestType);
        Assert.Equal(typeof(PingReply), info.Methods["PingAsync"].ResultType);
        Assert.Equal(GrainPlacement.PreferLocal, GrainInterfaceInfo.For(typeof(IDriverGrain)).Placement);
        Assert.Equal(GrainPlacement.AnyLiveSilo, GrainInterfaceInfo.For(typeof(IPlannerGrain)).Placement);
        Assert.Equal(GrainPlacement.SiloKeyed, GrainInterfaceInfo.For(typeof(IMeshWorkerGrain)).Placement);
        Assert.Null(GrainInterfaceInfo.For(typeof(IMeshWorkerGrain)).Methods["LoadProgramAsync"].ResultType);
        Assert.Throws<GrainContractException>(() => GrainInterfaceInfo.For(typeof(IOverloaded)));
        Assert.Throws<GrainContractException>(() => GrainInterfaceInfo.For(typeof(ITwoArguments)));
        Assert.Throws<GrainContractException>(() => GrainInterfaceInfo.For(typeof(INotATask)));
        Assert.Throws<GrainContractException>(() => GrainInterfaceInfo.For(typeof(IDisposable)));
    }

    [Fact]
    public void Metrics_CountCallsErrorsAndPercentiles()
    {
        var metrics = new GrainMetrics();
        var counters = metrics.For("IEchoGrain", "EchoAsync");
        var twentyMs = System.Diagnostics.Stopwatch.Frequency / 50;
        for (var i = 0; i < 100; i++)
        {
            // 90 calls that just started, 10 that started 20 ms ago.
            counters.Record(System.Diagnostics.Stopwatch.GetTimestamp() - (i < 90 ? 0 : twentyMs), failed: i % 10 == 0);
        }
        var report = metrics.Report("s:1").Methods.Single();
        Assert.Equal((100L, 10L), (report.Calls, report.Errors));
        Assert.InRange(report.P50Microseconds, 0, 1000);
        Assert.InRange(report.P99Microseconds, 18_000, 25_000);
        Assert.InRange(report.MeanMicroseconds, 1_800, 3_000);
    }
}
