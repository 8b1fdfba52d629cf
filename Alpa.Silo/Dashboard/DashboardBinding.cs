using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Alpa.Planner;
using Alpa.Silo.Hosting;

namespace Alpa.Silo.Dashboard;

/// <summary>
/// The dashboard's listening socket, bound while the silo is built, before Kestrel starts: another process
/// cannot take the port between a check and the bind (two silos started at the same moment used to race for
/// 8080 and one crashed with "address already in use"). Kestrel then serves the already-bound socket
/// (<see cref="Handle"/>, a duplicate descriptor Kestrel owns and closes).
/// </summary>
/// <param name="Endpoint">The bound address and port (the real port when 0 was asked for).</param>
/// <param name="Handle">File descriptor for Kestrel's <c>ListenHandle</c>; null where descriptors cannot be handed over (Windows): Kestrel binds <see cref="Endpoint"/> itself.</param>
public sealed partial record DashboardBinding(IPEndPoint Endpoint, ulong? Handle)
{
    private const int DuplicateCloseOnExec = 1030; // F_DUPFD_CLOEXEC (Linux)

    /// <summary>
    /// Binds the dashboard endpoint of <paramref name="options"/>: none for <c>off</c>. A taken port is a typed error
    /// naming <c>--dashboard</c> when the operator chose the endpoint; for the default endpoint it means "no dashboard",
    /// said in <paramref name="note"/> (a second silo on a host is normal and must still start).
    /// </summary>
    public static DashboardBinding? Bind(SiloOptions options, out string? note)
    {
        ArgumentNullException.ThrowIfNull(options);
        note = null;
        var text = options.Dashboard?.Trim();
        if (string.IsNullOrEmpty(text) || text.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }
        var endpoint = Endpoints.Parse(text, "--dashboard");
        try
        {
            return BindSocket(endpoint);
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
        {
            if (text == DashboardHost.DefaultEndpoint)
            {
                note = $"port {endpoint.Port} is taken: this silo serves no dashboard; give --dashboard ADDR:PORT for one";
                return null;
            }
            throw new AlpaException($"the dashboard endpoint {text} cannot be bound ({e.Message}); give --dashboard ADDR:PORT with a free port, or --dashboard off")
            { Field = "--dashboard" };
        }
    }

    private static DashboardBinding BindSocket(IPEndPoint endpoint)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(endpoint);
        socket.Listen(512);
        var bound = (IPEndPoint)socket.LocalEndPoint!;
        if (OperatingSystem.IsWindows())
        {
            // Kestrel cannot take a socket handle here: close ours and let it bind (the old check-then-bind race remains on Windows).
            return new DashboardBinding(bound, null);
        }
        var duplicate = fcntl((int)socket.Handle, DuplicateCloseOnExec, 0);
        return duplicate >= 0 ? new DashboardBinding(bound, (ulong)duplicate)
            : throw new AlpaException($"cannot hand the dashboard socket {bound} to the web server (fcntl errno {Marshal.GetLastPInvokeError()})") { Field = "--dashboard" };
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);
}
