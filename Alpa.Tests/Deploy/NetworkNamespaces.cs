using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Alpa.Tests.Deploy;

/// <summary>
/// N "hosts" on one machine: network namespaces <c>alpa-mh-PID-I</c>, each joined to a bridge in the
/// root namespace by a veth pair, with its own address 10.X.Y.(11+I)/24; the bridge holds 10.X.Y.1.
/// Disposing deletes namespaces and bridge; namespaces left by a test process that died are deleted
/// the next time. Needs root and iproute2.
/// </summary>
public sealed partial class NetworkNamespaces : IAsyncDisposable
{
    private readonly int _tag = Environment.ProcessId % 100000;
    private readonly List<string> _created = [];

    private NetworkNamespaces(int count)
    {
        // A /24 per test process, so concurrent runs on one machine do not collide.
        Subnet = $"10.{200 + (_tag % 50)}.{_tag % 251}";
        Names = Enumerable.Range(0, count).Select(i => $"alpa-mh-{Environment.ProcessId}-{i}").ToList();
    }

    public IReadOnlyList<string> Names { get; }
    /// <summary>First three octets of the subnet, e.g. <c>10.213.7</c>.</summary>
    public string Subnet { get; }
    /// <summary>The bridge's address in the root namespace (where PostgreSQL is relayed).</summary>
    public string BridgeAddress => $"{Subnet}.1";
    private string Bridge => $"amb{_tag}";

    /// <summary>The address of namespace <paramref name="i"/>.</summary>
    public string Address(int i) => $"{Subnet}.{11 + i}";

    /// <summary>The root-namespace end of namespace <paramref name="i"/>'s veth pair (down = its link is cut).</summary>
    public string HostLink(int i) => $"amv{_tag}h{i}";

    /// <summary>Launcher that runs a command inside namespace <paramref name="i"/>.</summary>
    public IReadOnlyList<string> Exec(int i) => ["ip", "netns", "exec", Names[i]];

    public static async Task<NetworkNamespaces> CreateAsync(int count)
    {
        await RemoveOrphansAsync();
        var net = new NetworkNamespaces(count);
        try
        {
            await Host.CheckAsync("ip", "link", "add", net.Bridge, "type", "bridge");
            net._created.Add("bridge");
            await Host.CheckAsync("ip", "addr", "add", net.BridgeAddress + "/24", "dev", net.Bridge);
            await Host.CheckAsync("ip", "link", "set", net.Bridge, "up");
            for (var i = 0; i < count; i++)
            {
                await net.AddHostAsync(i);
            }
            return net;
        }
        catch
        {
            await net.DisposeAsync();
            throw;
        }
    }

    private async Task AddHostAsync(int i)
    {
        var ns = Names[i];
        var inner = $"amv{_tag}n{i}";
        await Host.CheckAsync("ip", "netns", "add", ns);
        _created.Add(ns);
        await Host.CheckAsync("ip", "link", "add", HostLink(i), "type", "veth", "peer", "name", inner);
        await Host.CheckAsync("ip", "link", "set", HostLink(i), "master", Bridge);
        await Host.CheckAsync("ip", "link", "set", HostLink(i), "up");
        await Host.CheckAsync("ip", "link", "set", inner, "netns", ns);
        await Host.CheckAsync("ip", "-n", ns, "link", "set", inner, "name", "eth0");
        await Host.CheckAsync("ip", "-n", ns, "addr", "add", Address(i) + "/24", "dev", "eth0");
        await Host.CheckAsync("ip", "-n", ns, "link", "set", "eth0", "up");
        await Host.CheckAsync("ip", "-n", ns, "link", "set", "lo", "up");
    }

    /// <summary>Cuts (or restores) namespace <paramref name="i"/>'s only link.</summary>
    public Task SetLinkAsync(int i, bool up) => Host.CheckAsync("ip", "link", "set", HostLink(i), up ? "up" : "down");

    public async ValueTask DisposeAsync()
    {
        for (var i = 0; i < Names.Count; i++)
        {
            if (_created.Contains(Names[i]))
            {
                await DeleteAsync(Names[i], HostLink(i));
            }
        }
        if (_created.Contains("bridge"))
        {
            await Host.RunAsync("ip", ["link", "del", Bridge]);
        }
    }

    /// <summary>
    /// Kills what still runs in the namespace (a process keeps it, and its veth pair, alive after
    /// `ip netns del`), deletes it, and deletes the root-side veth end in case the kernel has not yet.
    /// </summary>
    private static async Task DeleteAsync(string ns, string hostLink)
    {
        var (_, pids, _) = await Host.RunAsync("ip", ["netns", "pids", ns]);
        foreach (var pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            await Host.RunAsync("kill", ["-KILL", pid]);
        }
        await Host.RunAsync("ip", ["netns", "del", ns]);
        await Host.RunAsync("ip", ["link", "del", hostLink]);
    }

    /// <summary>Deletes namespaces (and their bridge) of earlier test processes that no longer run.</summary>
    private static async Task RemoveOrphansAsync()
    {
        var (_, list, _) = await Host.RunAsync("ip", ["netns", "list"]);
        foreach (Match m in OurNamespace().Matches(list))
        {
            var pid = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (!Directory.Exists($"/proc/{pid}"))
            {
                await DeleteAsync(m.Value, $"amv{pid % 100000}h{m.Groups[2].Value}");
                await Host.RunAsync("ip", ["link", "del", $"amb{pid % 100000}"]);
            }
        }
    }

    [GeneratedRegex(@"alpa-mh-(\d+)-(\d+)")]
    private static partial Regex OurNamespace();
}

/// <summary>
/// Forwards TCP connections from <paramref name="listen"/> to <paramref name="target"/>: makes the
/// machine's PostgreSQL (bound to 127.0.0.1) reachable on the bridge address without reconfiguring or
/// restarting it (other tests use it at the same time). A deployment sets listen_addresses instead
/// (deploy/postgres/setup.sh --listen).
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly DnsEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public TcpRelay(IPAddress listen, DnsEndPoint target)
    {
        _target = target;
        _listener = new TcpListener(listen, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _ = PumpAsync(client);
        }
    }

    private async Task PumpAsync(TcpClient client)
    {
        using (client)
        using (var upstream = new TcpClient())
        {
            try
            {
                await upstream.ConnectAsync(_target.Host, _target.Port, _stop.Token);
                var a = client.GetStream();
                var b = upstream.GetStream();
                await Task.WhenAny(a.CopyToAsync(b, _stop.Token), b.CopyToAsync(a, _stop.Token));
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // A side closed or the relay stops: drop this connection.
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
