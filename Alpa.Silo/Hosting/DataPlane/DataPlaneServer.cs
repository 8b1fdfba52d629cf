using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Transport;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Alpa.Silo.Hosting.DataPlane;

/// <summary>
/// The tensor data plane: a TCP listener (TLS when configured) whose connections must open with a
/// valid handshake (<see cref="TensorFrame"/>), then carry length-prefixed tensor frames into the
/// <see cref="TensorInbox"/>. Malformed input closes the connection with a log line.
/// </summary>
public sealed partial class DataPlaneServer : BackgroundService
{
    private const int MaxConnections = 512;
    private readonly TcpListener _listener;
    private readonly DataPlaneConnectionHandler _handler;
    private readonly X509Certificate2? _certificate;
    private readonly SemaphoreSlim _slots = new(MaxConnections, MaxConnections);
    private readonly ILogger<DataPlaneServer> _logger;

    public DataPlaneServer(IPEndPoint endpoint, DataPlaneConnectionHandler handler, X509Certificate2? certificate, ILogger<DataPlaneServer> logger)
    {
        _listener = new TcpListener(endpoint);
        _listener.Start(backlog: 256);
        _handler = handler;
        _certificate = certificate;
        _logger = logger;
    }

    /// <summary>The bound port (the configured one, or the one picked for port 0).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var socket = await _listener.AcceptSocketAsync(stoppingToken).ConfigureAwait(false);
                if (!_slots.Wait(0))
                {
                    LogTooMany(socket.RemoteEndPoint?.ToString() ?? "?");
                    socket.Dispose();
                    continue;
                }
                _ = Task.Run(() => ServeAsync(socket, stoppingToken), stoppingToken);
            }
        }
        finally
        {
            _listener.Stop();
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken token)
    {
        var remote = socket.RemoteEndPoint?.ToString() ?? "?";
        try
        {
            socket.NoDelay = true;
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            await using (stream.ConfigureAwait(false))
            {
                if (_certificate is not null)
                {
                    var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, token).ConfigureAwait(false);
                    stream = ssl;
                }
                await _handler.RunAsync(stream, remote, token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
        {
            LogConnectionLost(remote, e.Message);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Silo shutting down.
        }
        finally
        {
            _slots.Release();
        }
    }

    [LoggerMessage(LogLevel.Warning, "Data plane: refusing {Remote}, too many connections open")]
    private partial void LogTooMany(string remote);

    [LoggerMessage(LogLevel.Debug, "Data plane: connection from {Remote} ended: {Reason}")]
    private partial void LogConnectionLost(string remote, string reason);
}

/// <summary>
/// Serves one data-plane connection: handshake, then frames until the peer closes. Separate from
/// the listener so the fuzz test can drive it with any stream.
/// </summary>
public sealed partial class DataPlaneConnectionHandler(ReplayGuard guard, TensorInbox inbox, SiloOptions options, ILogger<DataPlaneConnectionHandler> logger)
{
    private const int ScratchBytes = 2 << 20;
    private const int GrowthStartBytes = 1 << 20;
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Runs until the peer closes; a protocol violation logs and returns (the caller closes the stream).</summary>
    public async Task RunAsync(Stream stream, string remote, CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        try
        {
            if (!await HandshakeAsync(stream, remote, timeout.Token).ConfigureAwait(false))
            {
                return;
            }
            await ServeFramesAsync(stream, timeout, token).ConfigureAwait(false);
        }
        catch (TensorFrameException e)
        {
            LogBadFrame(remote, e.Message);
        }
        catch (EndOfStreamException)
        {
            LogTruncated(remote);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            LogStalled(remote);
        }
    }

    private async Task<bool> HandshakeAsync(Stream stream, string remote, CancellationToken token)
    {
        var buffer = new byte[5 + CallSignature.HandshakeBytes];
        await stream.ReadExactlyAsync(buffer, token).ConfigureAwait(false);
        string? problem = BinaryPrimitives.ReadUInt32LittleEndian(buffer) != TensorFrame.HandshakeMagic ? "not an Alpa data-plane handshake"
            : buffer[4] != TensorFrame.Version ? $"protocol version {buffer[4]}, expected {TensorFrame.Version}"
            : guard.CheckHandshake(buffer.AsSpan(5));
        await stream.WriteAsync(new[] { problem is null ? (byte)0 : (byte)1 }, token).ConfigureAwait(false);
        await stream.FlushAsync(token).ConfigureAwait(false);
        if (problem is not null)
        {
            LogRejected(remote, problem);
        }
        return problem is null;
    }

    private async Task ServeFramesAsync(Stream stream, CancellationTokenSource timeout, CancellationToken token)
    {
        var prefix = new byte[TensorFrame.PrefixBytes];
        var header = new byte[TensorFrame.MaxHeaderBytes];
        var ack = new byte[TensorFrame.AckBytes];
        byte[]? scratch = null;
        while (true)
        {
            timeout.CancelAfter(Timeout.InfiniteTimeSpan);
            if (await stream.ReadAtLeastAsync(prefix, prefix.Length, throwOnEndOfStream: false, token).ConfigureAwait(false) == 0)
            {
                return;
            }
            timeout.CancelAfter(ReadTimeout);
            var length = TensorFrame.ParsePrefix(prefix);
            await stream.ReadExactlyAsync(header.AsMemory(0, length), timeout.Token).ConfigureAwait(false);
            var parsed = TensorFrame.ParseHeader(header.AsSpan(0, length), options.MaxTensorBytes);
            if (parsed.Flags.HasFlag(TensorFrameFlags.Probe))
            {
                scratch ??= new byte[ScratchBytes];
                await DrainAsync(stream, parsed.PayloadBytes, scratch, timeout).ConfigureAwait(false);
            }
            else
            {
                await ReceiveAsync(stream, parsed, timeout).ConfigureAwait(false);
            }
            BinaryPrimitives.WriteUInt64LittleEndian(ack, parsed.TransferId);
            ack[8] = 0;
            await stream.WriteAsync(ack, token).ConfigureAwait(false);
            await stream.FlushAsync(token).ConfigureAwait(false);
        }
    }

    private async Task ReceiveAsync(Stream stream, TensorHeader header, CancellationTokenSource timeout)
    {
        if (inbox.Claim(header) is { } claimed)
        {
            await ReadChunkedAsync(stream, claimed.Buffer, timeout).ConfigureAwait(false);
            claimed.Completion.TrySetResult(new ReceivedTensor(header, claimed.Buffer));
            return;
        }
        if (!inbox.TryReserve(header.PayloadBytes))
        {
            throw new TensorFrameException($"unexpected transfer {header.TransferId} of {header.PayloadBytes} bytes exceeds the unclaimed-tensor budget");
        }
        try
        {
            var data = await ReadGrowingAsync(stream, (int)header.PayloadBytes, timeout).ConfigureAwait(false);
            inbox.Store(new ReceivedTensor(header, data));
        }
        catch
        {
            inbox.ReleaseReservation(header.PayloadBytes);
            throw;
        }
    }

    private static async Task ReadChunkedAsync(Stream stream, Memory<byte> destination, CancellationTokenSource timeout)
    {
        while (destination.Length > 0)
        {
            timeout.CancelAfter(ReadTimeout);
            var read = await stream.ReadAsync(destination, timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException();
            }
            destination = destination[read..];
        }
    }

    /// <summary>Reads a payload whose length the peer declared, growing the buffer only as bytes actually arrive.</summary>
    private static async Task<byte[]> ReadGrowingAsync(Stream stream, int length, CancellationTokenSource timeout)
    {
        var buffer = new byte[Math.Min(length, GrowthStartBytes)];
        var filled = 0;
        while (filled < length)
        {
            if (filled == buffer.Length)
            {
                Array.Resize(ref buffer, (int)Math.Min(length, 2L * buffer.Length));
            }
            timeout.CancelAfter(ReadTimeout);
            var read = await stream.ReadAsync(buffer.AsMemory(filled), timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException();
            }
            filled += read;
        }
        return buffer;
    }

    private static async Task DrainAsync(Stream stream, long length, byte[] scratch, CancellationTokenSource timeout)
    {
        while (length > 0)
        {
            timeout.CancelAfter(ReadTimeout);
            var read = await stream.ReadAsync(scratch.AsMemory(0, (int)Math.Min(scratch.Length, length)), timeout.Token).ConfigureAwait(false);
            if (read == 0)
            {
                throw new EndOfStreamException();
            }
            length -= read;
        }
    }

    [LoggerMessage(LogLevel.Warning, "Data plane: rejected handshake from {Remote}: {Reason} (401)")]
    private partial void LogRejected(string remote, string reason);

    [LoggerMessage(LogLevel.Warning, "Data plane: closing connection from {Remote}: {Reason}")]
    private partial void LogBadFrame(string remote, string reason);

    [LoggerMessage(LogLevel.Warning, "Data plane: {Remote} closed the connection in the middle of a frame")]
    private partial void LogTruncated(string remote);

    [LoggerMessage(LogLevel.Warning, "Data plane: {Remote} stalled for 30 s in the middle of a frame; closing")]
    private partial void LogStalled(string remote);
}
