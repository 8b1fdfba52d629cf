using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;

namespace Alpa.Client;

/// <summary>
/// Gateway failover. Every call goes to the current gateway; when that silo cannot be connected to (so the
/// call was not sent) the client asks the silos it knows, in order after the failed one, which one answers,
/// makes it the gateway and sends the call there. Only unsent calls move: a call that reached a silo that then
/// died fails as before (the caller decides whether repeating it is safe). When no known silo answers before
/// the call's deadline the call fails with <see cref="ClusterUnavailableException"/>.
/// </summary>
public sealed partial class AlpaClient
{
    private const int MaxSwitchesPerCall = 8;

    private readonly TransportOptions _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, SiloConnection> _connections = new(StringComparer.Ordinal);
    private readonly List<string> _known;
    private SiloConnection? _gateway;
    private SiloInfo? _gatewayInfo;

    /// <summary>Silos the client may fail over to: the addresses it was given, then every silo a listing showed active.</summary>
    public IReadOnlyList<string> KnownSilos
    {
        get
        {
            lock (_gate) return [.. _known];
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            foreach (var connection in _connections.Values) connection.Dispose();
            _connections.Clear();
        }
    }

    private async Task<object?> InvokeWithFailoverAsync(GrainCall call, object? request, CancellationToken cancellationToken)
    {
        for (var switches = 0; ; switches++)
        {
            SiloConnection gateway;
            lock (_gate) gateway = _gateway ?? throw new InvalidOperationException("not connected");
            try
            {
                return await gateway.CallAsync(call, request, hops: 0, failFast: true, cancellationToken).ConfigureAwait(false);
            }
            catch (SiloUnreachableException) when (!cancellationToken.IsCancellationRequested && switches < MaxSwitchesPerCall)
            {
                await FailOverAsync(gateway, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The first of several given addresses that answers; a single address is waited for like any call (a silo still starting).</summary>
    private async Task ConnectFirstAsync(CancellationToken cancellationToken)
    {
        if (_known.Count > 1)
        {
            await FailOverAsync(null, cancellationToken).ConfigureAwait(false);
            return;
        }
        var connection = Connection(_known[0]);
        var info = await GrainProxy.Create<ISiloGrain>(new DirectSink(connection, failFast: false), GrainKeys.Gateway)
            .GetInfoAsync(cancellationToken).ConfigureAwait(false);
        Use(connection, info);
    }

    /// <summary>Reads the cluster listing once so that the client knows the other silos; a gateway that cannot list yet leaves the given addresses.</summary>
    private async Task LearnSilosAsync(CancellationToken cancellationToken)
    {
        try
        {
            await GetClusterAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (GrainCallException e) when (e is not UnauthorizedCallException)
        {
            // The addresses given to ConnectAsync remain the failover list.
        }
    }

    /// <summary>
    /// Makes the first known silo that answers the gateway, trying again with growing pauses until the ambient
    /// deadline (or the default timeout); does nothing when another call already moved away from <paramref name="failed"/>.
    /// </summary>
    private async Task FailOverAsync(SiloConnection? failed, CancellationToken cancellationToken)
    {
        var started = DateTimeOffset.UtcNow;
        var deadline = GrainCallContext.Deadline ?? started + _options.DefaultTimeout;
        var tried = new List<string>();
        for (var round = 0; ; round++)
        {
            foreach (var address in Candidates(failed?.Address))
            {
                lock (_gate)
                {
                    if (failed is not null && _gateway != failed) return;
                }
                if (await TryUseAsync(address, cancellationToken).ConfigureAwait(false)) return;
                tried.Add(address);
            }
            if (DateTimeOffset.UtcNow >= deadline)
            {
                var names = tried.Distinct().ToList();
                throw new ClusterUnavailableException(
                    $"no silo of the cluster answers: tried {string.Join(", ", names)} for {(DateTimeOffset.UtcNow - started).TotalSeconds:F0} s; " +
                    "start a silo, or connect to a live one (--connect ADDR:PORT[,ADDR:PORT...])", names);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 << Math.Min(round, 5))), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Asks <paramref name="address"/> for its info (fail-fast); on an answer it becomes the gateway.</summary>
    private async Task<bool> TryUseAsync(string address, CancellationToken cancellationToken)
    {
        var connection = Connection(address);
        try
        {
            using var probe = GrainCallContext.WithDeadline(_options.ConnectTimeout + TimeSpan.FromSeconds(2));
            var info = await GrainProxy.Create<ISiloGrain>(new DirectSink(connection, failFast: true), GrainKeys.Gateway)
                .GetInfoAsync(cancellationToken).ConfigureAwait(false);
            Use(connection, info);
            return true;
        }
        catch (GrainCallException e) when (e is SiloUnavailableException or DeadlineExceededException)
        {
            return false;
        }
    }

    /// <summary>Known silos starting after <paramref name="failed"/>, which comes last (it may be back by then).</summary>
    private List<string> Candidates(string? failed)
    {
        lock (_gate)
        {
            var i = failed is null ? -1 : _known.IndexOf(failed);
            return [.. _known.Skip(i + 1), .. _known.Take(i + 1)];
        }
    }

    private void Use(SiloConnection connection, SiloInfo info)
    {
        lock (_gate)
        {
            _gateway = connection;
            _gatewayInfo = info;
        }
    }

    private SiloConnection Connection(string address)
    {
        lock (_gate)
        {
            if (!_connections.TryGetValue(address, out var connection))
            {
                _connections[address] = connection = new SiloConnection(address, _options);
            }
            return connection;
        }
    }

    /// <summary>Adds the active silos of <paramref name="snapshot"/> to the failover list.</summary>
    private void Remember(MembershipSnapshot snapshot)
    {
        lock (_gate)
        {
            foreach (var address in snapshot.Active.Select(e => e.Address).Order(StringComparer.Ordinal))
            {
                if (!_known.Contains(address)) _known.Add(address);
            }
        }
    }
}
