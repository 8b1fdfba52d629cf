using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Membership;

namespace Alpa.Silo.Hosting.DataPlane;

/// <summary>
/// Sends tensors to other silos over dedicated data-plane connections: one authenticated TCP
/// stream per target silo, reused, frames sent one at a time; a send completes when the receiver
/// acknowledges the payload. A broken connection is dropped and the next send opens a new one.
/// </summary>
public sealed class TensorSender(MembershipView view, TransportOptions transport) : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Link>> _links = new(StringComparer.Ordinal);

    /// <summary>Sends one tensor (or tile) to silo <paramref name="target"/>.</summary>
    public async Task SendAsync(string target, TensorHeader header, ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        if (payload.Length != header.PayloadBytes)
        {
            throw new TensorTransferException($"transfer {header.TransferId}: payload has {payload.Length} bytes, header says {header.PayloadBytes}");
        }
        var link = _links.GetOrAdd(target, t => new Lazy<Link>(() => new Link(t))).Value;
        await link.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            link.Stream ??= await ConnectAsync(target, cancellationToken).ConfigureAwait(false);
            await WriteFrameAsync(link.Stream, header, payload, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or EndOfStreamException or ObjectDisposedException)
        {
            await link.ResetAsync().ConfigureAwait(false);
            throw new TensorTransferException($"sending transfer {header.TransferId} to {target} failed: {e.Message}", e);
        }
        catch (OperationCanceledException)
        {
            await link.ResetAsync().ConfigureAwait(false);
            throw;
        }
        finally
        {
            link.Gate.Release();
        }
    }

    private static async Task WriteFrameAsync(Stream stream, TensorHeader header, ReadOnlyMemory<byte> payload, CancellationToken token)
    {
        var prefix = new byte[TensorFrame.PrefixBytes + TensorFrame.MaxHeaderBytes];
        var length = TensorFrame.Write(header, prefix);
        await stream.WriteAsync(prefix.AsMemory(0, length), token).ConfigureAwait(false);
        await stream.WriteAsync(payload, token).ConfigureAwait(false);
        await stream.FlushAsync(token).ConfigureAwait(false);
        var ack = new byte[TensorFrame.AckBytes];
        await stream.ReadExactlyAsync(ack, token).ConfigureAwait(false);
        if (BinaryPrimitives.ReadUInt64LittleEndian(ack) != header.TransferId || ack[8] != 0)
        {
            throw new IOException($"receiver did not acknowledge transfer {header.TransferId} (status {ack[8]})");
        }
    }

    private async Task<Stream> ConnectAsync(string target, CancellationToken token)
    {
        // A silo that has just joined may not be in this silo's view until its next table read.
        var row = view.ActiveRow(target);
        for (var wait = 0; row is null && wait < 60; wait++)
        {
            await Task.Delay(50, token).ConfigureAwait(false);
            row = view.ActiveRow(target);
        }
        if (row is null)
        {
            throw new TensorTransferException($"silo {target} is not an active member of the cluster; cannot send tensors to it");
        }
        var host = target[..target.LastIndexOf(':')].Trim('[', ']');
        return await OpenAsync(host, row.DataPort, transport, token).ConfigureAwait(false);
    }

    /// <summary>Opens and authenticates a data-plane stream to <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static async Task<Stream> OpenAsync(string host, int port, TransportOptions transport, CancellationToken token)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, token).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            if (transport.UseTls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                var options = TlsValidation.ClientOptions(transport);
                options.TargetHost = host;
                await ssl.AuthenticateAsClientAsync(options, token).ConfigureAwait(false);
                stream = ssl;
            }
            var hello = new byte[5 + CallSignature.HandshakeBytes];
            BinaryPrimitives.WriteUInt32LittleEndian(hello, TensorFrame.HandshakeMagic);
            hello[4] = TensorFrame.Version;
            CallSignature.WriteHandshake(transport.Secret, hello.AsSpan(5));
            await stream.WriteAsync(hello, token).ConfigureAwait(false);
            var status = new byte[1];
            await stream.ReadExactlyAsync(status, token).ConfigureAwait(false);
            if (status[0] != 0)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
                throw new TensorTransferException($"{host}:{port} refused the data-plane handshake; check the cluster secret");
            }
            return stream;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new TensorTransferException($"cannot open a data-plane stream to {host}:{port}: {e.Message}", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var link in _links.Values.Where(l => l.IsValueCreated))
        {
            await link.Value.ResetAsync().ConfigureAwait(false);
        }
    }

    private sealed class Link(string target)
    {
        public string Target { get; } = target;
        public SemaphoreSlim Gate { get; } = new(1, 1);
        public Stream? Stream { get; set; }

        public async Task ResetAsync()
        {
            if (Stream is { } stream)
            {
                Stream = null;
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
