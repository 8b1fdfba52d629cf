using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner.Graph;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Alpa.Tests.Silo;

/// <summary>
/// Seeded fuzzing of the data plane: random bytes, truncated frames, huge declared lengths and bad
/// tensor headers must never crash a silo nor make it allocate what the peer declared.
/// </summary>
[Collection(SiloProcessCollection.Name)]
public sealed class DataPlaneFuzzTests
{
    private const int Seed = 20221;
    private const int Cases = 1200;

    [Fact]
    public Task Handler_SurvivesEveryCase_AndAllocatesLittle() => FuzzHandlerAsync(Seed, Cases);

    /// <summary>Long variant (ALPA_SLOW_TESTS=1): 20,000 cases over five more seeds.</summary>
    [SlowFact]
    public async Task Handler_SurvivesManyMoreCases()
    {
        for (var seed = 1; seed <= 5; seed++)
        {
            await FuzzHandlerAsync(seed, 4000);
        }
    }

    private static async Task FuzzHandlerAsync(int seed, int cases)
    {
        var secret = ClusterSecret.FromText("fuzzing-secret-0123456789");
        var inbox = new TensorInbox(64L << 20);
        var options = new SiloOptions { MaxTensorBytes = 1L << 40 };
        var handler = new DataPlaneConnectionHandler(new ReplayGuard(secret, TimeSpan.FromSeconds(30)), inbox, options,
            NullLogger<DataPlaneConnectionHandler>.Instance);
        var kinds = new Dictionary<string, int>();
        var acked = 0;
        foreach (var (kind, bytes) in FuzzCases.Generate(seed, cases, secret))
        {
            var stream = new ScriptedStream(bytes);
            // The scripted stream completes synchronously, so the whole case runs on this thread and
            // the thread's allocation counter measures exactly what the handler allocated.
            var thread = Environment.CurrentManagedThreadId;
            var before = GC.GetAllocatedBytesForCurrentThread();
            await handler.RunAsync(stream, kind, CancellationToken.None);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(thread, Environment.CurrentManagedThreadId);
            Assert.True(allocated < 8L << 20, $"case {kind} allocated {allocated} bytes");
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
            acked += stream.Written.Length / TensorFrame.AckBytes >= 1 && kind == "valid" ? 1 : 0;
        }
        Assert.True(kinds.Count >= 8 && kinds.Values.All(n => n >= 50), string.Join(", ", kinds));
        Assert.Equal(kinds["valid"], acked);
    }

    [Fact]
    public async Task LiveSilo_SurvivesTheFuzz_AndStillServes()
    {
        await using var cluster = new TestCluster("memory");
        var address = TestCluster.NewAddress();
        var silo = await cluster.StartAsync(address, 1);
        using var client = await cluster.ConnectAsync(address);
        var port = client.Gateway.DataPort;
        var controlPort = int.Parse(address.Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
        var random = new Random(Seed);
        foreach (var (_, bytes) in FuzzCases.Generate(Seed, Cases, cluster.Secret!))
        {
            await SendAndCloseAsync(port, bytes);
        }
        for (var i = 0; i < 100; i++)
        {
            var junk = new byte[random.Next(0, 400)];
            random.NextBytes(junk);
            if (i % 2 == 0 && junk.Length > 24)
            {
                "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.CopyTo(junk);
            }
            await SendAndCloseAsync(controlPort, junk);
        }
        Assert.False(silo.HasExited, silo.Log);
        var info = await client.GetGrain<ISiloGrain>(address).GetInfoAsync();
        Assert.True(info.PeakWorkingSetBytes < 1L << 30, $"peak working set {info.PeakWorkingSetBytes >> 20} MiB");
        Assert.Equal(address, (await client.GetGrain<ISiloGrain>(address).PingAsync(new PingRequest(0))).Address);
    }

    private static async Task SendAndCloseAsync(int port, byte[] bytes)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        try
        {
            await socket.SendAsync(bytes);
            socket.Shutdown(SocketShutdown.Send);
            var sink = new byte[256];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            while (await socket.ReceiveAsync(sink, timeout.Token) > 0)
            {
            }
        }
        catch (SocketException)
        {
            // The silo closed on us mid-send: expected for garbage.
        }
        catch (OperationCanceledException)
        {
            // The silo kept a half-open connection waiting for more: also fine.
        }
    }

    /// <summary>Reads from a fixed script of bytes; keeps what the handler writes.</summary>
    private sealed class ScriptedStream(byte[] input) : Stream
    {
        private readonly MemoryStream _input = new(input);
        private readonly MemoryStream _output = new();
        public byte[] Written => _output.ToArray();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public override int Read(byte[] buffer, int offset, int count) => _input.Read(buffer, offset, count);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _output.Write(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(_input.Read(buffer.Span));
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _output.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>Seeded generator of hostile data-plane inputs.</summary>
internal static class FuzzCases
{
    private static readonly string[] Kinds =
        ["random", "handshake+random", "huge-length", "huge-probe", "truncated", "bad-header", "bad-prefix", "bad-handshake", "valid"];

    public static IEnumerable<(string Kind, byte[] Bytes)> Generate(int seed, int count, ClusterSecret secret)
    {
        var random = new Random(seed);
        for (var i = 0; i < count; i++)
        {
            var kind = Kinds[i % Kinds.Length];
            yield return (kind, kind switch
            {
                "random" => RandomBytes(random, random.Next(0, 300)),
                "handshake+random" => [.. Handshake(secret), .. RandomBytes(random, random.Next(1, 300))],
                "huge-length" => [.. Handshake(secret), .. Frame(random, (long)random.Next(1 << 20, int.MaxValue) * 4, TensorFrameFlags.None), .. RandomBytes(random, 100)],
                "huge-probe" => [.. Handshake(secret), .. Frame(random, (long)random.Next(1 << 28, int.MaxValue) * 4, TensorFrameFlags.Probe), .. RandomBytes(random, 100)],
                "truncated" => Truncated(random, secret),
                "bad-header" => BadHeader(random, secret),
                "bad-prefix" => [.. Handshake(secret), .. RandomBytes(random, 6), .. RandomBytes(random, 40)],
                "bad-handshake" => BadHandshake(random, secret),
                _ => Valid(random, secret),
            });
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static byte[] Handshake(ClusterSecret? secret)
    {
        var hello = new byte[5 + CallSignature.HandshakeBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(hello, TensorFrame.HandshakeMagic);
        hello[4] = TensorFrame.Version;
        CallSignature.WriteHandshake(secret, hello.AsSpan(5));
        return hello;
    }

    /// <summary>A well-formed prefix and header for an f32 vector of <paramref name="bytes"/> bytes.</summary>
    private static byte[] Frame(Random random, long bytes, TensorFrameFlags flags)
    {
        var header = new TensorHeader((ulong)random.NextInt64(), DType.F32, flags, [bytes / 4], 0, 1, bytes);
        var buffer = new byte[TensorFrame.PrefixBytes + TensorFrame.MaxHeaderBytes];
        return buffer[..TensorFrame.Write(header, buffer)];
    }

    private static byte[] Truncated(Random random, ClusterSecret secret)
    {
        var bytes = 4 * random.Next(1, 16 << 10);
        byte[] whole = [.. Handshake(secret), .. Frame(random, bytes, TensorFrameFlags.None), .. RandomBytes(random, bytes)];
        return whole[..random.Next(1, whole.Length)];
    }

    private static byte[] BadHeader(Random random, ClusterSecret secret)
    {
        var frame = Frame(random, 4 * random.Next(1, 1000), TensorFrameFlags.None);
        switch (random.Next(6))
        {
            case 0: frame[TensorFrame.PrefixBytes + 8] = (byte)random.Next(4, 256); break;        // dtype
            case 1: frame[TensorFrame.PrefixBytes + 9] = (byte)random.Next(2, 256); break;        // flags
            case 2: frame[TensorFrame.PrefixBytes + 10] = (byte)random.Next(2, 256); break;       // rank
            case 3: frame[TensorFrame.PrefixBytes + 18] = 0x80; break;                            // negative dim
            case 4: BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(frame.Length - 16), random.Next(1, 100)); break; // tile index ≥ count
            default: BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(4), (ushort)random.Next(0, 65536)); break;    // header length
        }
        return [.. Handshake(secret), .. frame, .. RandomBytes(random, 64)];
    }

    private static byte[] BadHandshake(Random random, ClusterSecret secret)
    {
        var hello = Handshake(random.Next(2) == 0 ? ClusterSecret.FromText("some-other-secret-entirely") : secret);
        hello[random.Next(hello.Length)] ^= (byte)random.Next(1, 256);
        return [.. hello, .. Frame(random, 64, TensorFrameFlags.None), .. RandomBytes(random, 64)];
    }

    private static byte[] Valid(Random random, ClusterSecret secret)
    {
        var bytes = 4 * random.Next(0, 4096);
        return [.. Handshake(secret), .. Frame(random, bytes, TensorFrameFlags.None), .. RandomBytes(random, bytes)];
    }
}
