using System.Text.Json.Serialization;
using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;

namespace Alpa.Client;

/// <summary>
/// A connection to an Alpa cluster through one of its silos (the gateway): grain references whose calls the
/// gateway routes to the silo that hosts the grain. The client remembers the cluster's silos (the addresses it
/// was given and those of every listing it reads) and moves to another live one when its gateway cannot be
/// reached (see AlpaClient.Failover.cs).
/// </summary>
public sealed partial class AlpaClient : IGrainFactory, IGrainCallSink, IDisposable
{
    private readonly GrainFactory _factory;

    private AlpaClient(TransportOptions options, IReadOnlyList<string> endpoints)
    {
        _options = options;
        _known = [.. endpoints];
        _factory = new GrainFactory(this);
    }

    /// <summary>The silo this client talks to now (another one after a failover).</summary>
    public SiloInfo Gateway
    {
        get
        {
            lock (_gate) return _gatewayInfo ?? throw new InvalidOperationException("not connected");
        }
    }

    /// <summary>
    /// Connects to the silo at <paramref name="endpoint"/> (<c>host:port</c>, or several separated by commas: the
    /// first that answers) and checks that it answers and accepts <paramref name="secret"/> (null against a
    /// development silo on loopback).
    /// </summary>
    public static Task<AlpaClient> ConnectAsync(string endpoint, ClusterSecret? secret, CancellationToken cancellationToken = default) =>
        ConnectAsync(endpoint, new TransportOptions { Secret = secret }, cancellationToken);

    /// <summary>As <see cref="ConnectAsync(string, ClusterSecret?, CancellationToken)"/>, with transport options (TLS, timeouts).</summary>
    public static async Task<AlpaClient> ConnectAsync(string endpoint, TransportOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var endpoints = endpoint.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(SiloEndpoint.Normalize).Distinct(StringComparer.Ordinal).ToList();
        if (endpoints.Count == 0) endpoints.Add(SiloEndpoint.Normalize(endpoint));
        var client = new AlpaClient(options, endpoints);
        try
        {
            await client.ConnectFirstAsync(cancellationToken).ConfigureAwait(false);
            await client.LearnSilosAsync(cancellationToken).ConfigureAwait(false);
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>A reference to grain <typeparamref name="T"/> with <paramref name="key"/>.</summary>
    public T GetGrain<T>(string key) where T : class, IGrain => _factory.GetGrain<T>(key);

    /// <summary>The cluster's silos as the gateway sees them (the client remembers them for failover).</summary>
    public async Task<ClusterListing> GetClusterAsync(CancellationToken cancellationToken = default)
    {
        var snapshot = await GetGrain<ISiloGrain>(GrainKeys.Gateway).GetMembershipAsync(cancellationToken).ConfigureAwait(false);
        Remember(snapshot);
        return ClusterListing.From(snapshot);
    }

    Task<object?> IGrainCallSink.InvokeAsync(GrainCall call, object? request, CancellationToken cancellationToken) =>
        InvokeWithFailoverAsync(call, request, cancellationToken);

    private sealed class DirectSink(SiloConnection connection, bool failFast) : IGrainCallSink
    {
        public Task<object?> InvokeAsync(GrainCall call, object? request, CancellationToken cancellationToken) =>
            connection.CallAsync(call, request, hops: 0, failFast, cancellationToken);
    }
}

/// <summary>The output of <c>alpa cluster --json</c>: <c>{"silos":[{"address","status","epoch","devices"}]}</c>.</summary>
public sealed record ClusterListing(IReadOnlyList<ClusterSilo> Silos)
{
    /// <summary>One row per incarnation, ordered by address then epoch.</summary>
    public static ClusterListing From(MembershipSnapshot snapshot) => new(
        snapshot.Entries.OrderBy(e => e.Address, StringComparer.Ordinal).ThenBy(e => e.Epoch)
            .Select(e => new ClusterSilo(e.Address, StatusName(e.Status), e.Epoch, e.Devices, e.LastHeartbeat))
            .ToList());

    /// <summary>Lower-case status name used in listings: <c>active</c>, <c>dead</c>, <c>joining</c>.</summary>
    public static string StatusName(SiloStatus status) => status switch
    {
        SiloStatus.Active => "active",
        SiloStatus.Dead => "dead",
        _ => "joining",
    };
}

/// <summary>One silo incarnation in a <see cref="ClusterListing"/>.</summary>
/// <param name="Address">Control-plane address, <c>host:port</c>.</param>
/// <param name="Status"><c>active</c>, <c>dead</c> or <c>joining</c>.</param>
/// <param name="Epoch">Incarnation number; a restarted silo has a larger one.</param>
/// <param name="Devices">Devices of the silo.</param>
/// <param name="LastHeartbeat">Last heartbeat written to the membership table.</param>
public sealed record ClusterSilo(
    string Address, string Status, long Epoch, IReadOnlyList<string> Devices,
    [property: JsonPropertyName("last_heartbeat")] DateTimeOffset LastHeartbeat);

/// <summary>Parses and normalizes <c>host:port</c> endpoints.</summary>
public static class SiloEndpoint
{
    /// <summary>Accepts <c>host:port</c> or <c>http(s)://host:port</c>; returns <c>host:port</c>.</summary>
    public static string Normalize(string endpoint)
    {
        var text = endpoint.Trim();
        foreach (var scheme in new[] { "http://", "https://" })
        {
            if (text.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                text = text[scheme.Length..].TrimEnd('/');
            }
        }
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65535)
        {
            throw new Alpa.Planner.AlpaException($"'{endpoint}' is not an endpoint; write HOST:PORT, e.g. 127.0.0.1:7000") { Field = "--connect" };
        }
        return text;
    }
}
