using System.Collections.Concurrent;
using Alpa.Client.Transport;

namespace Alpa.Silo.Hosting.Transport;

/// <summary>One <see cref="SiloConnection"/> (one HTTP/2 connection) per remote silo, reused by every call.</summary>
public sealed class SiloConnectionPool(TransportOptions options) : IDisposable
{
    private readonly ConcurrentDictionary<string, SiloConnection> _connections = new(StringComparer.Ordinal);

    public SiloConnection Get(string address) => _connections.GetOrAdd(address, a => new SiloConnection(a, options));

    public void Dispose()
    {
        foreach (var connection in _connections.Values)
        {
            connection.Dispose();
        }
    }
}
