using System.Net;
using System.Runtime.InteropServices;
using Alpa.Planner;

namespace Alpa.Silo.Hosting;

/// <summary>Who this silo is: address, devices, data port and current epoch (set when it joins).</summary>
public sealed class SiloIdentity
{
    private long _epoch;

    public SiloIdentity(string address, IReadOnlyList<string> devices, string clusterId, bool insecure)
    {
        Address = address;
        Devices = devices;
        ClusterId = clusterId;
        Insecure = insecure;
    }

    /// <summary>Advertised control-plane address, <c>host:port</c>.</summary>
    public string Address { get; }
    public IReadOnlyList<string> Devices { get; }
    public string ClusterId { get; }
    /// <summary>Runs without a cluster secret (loopback development mode).</summary>
    public bool Insecure { get; }
    /// <summary>Port of the data plane listener (known once it is bound).</summary>
    public int DataPort { get; set; }
    /// <summary>Current incarnation; 0 before the first join.</summary>
    public long Epoch { get => Interlocked.Read(ref _epoch); set => Interlocked.Exchange(ref _epoch, value); }
}

/// <summary>Parses <c>ADDR:PORT</c> endpoints of the silo's own listeners.</summary>
public static class Endpoints
{
    public static IPEndPoint Parse(string text, string option)
    {
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text[(colon + 1)..], out var port) || port is < 1 or > 65535)
        {
            throw new AlpaException($"{option} '{text}' is not ADDR:PORT with a port in 1..65535, e.g. 127.0.0.1:7000") { Field = option };
        }
        var host = text[..colon].Trim('[', ']');
        var address = host switch
        {
            "localhost" => IPAddress.Loopback,
            "*" or "+" => IPAddress.Any,
            _ => IPAddress.TryParse(host, out var ip) ? ip
                : throw new AlpaException($"{option} '{text}': use an IP address (or localhost) to bind") { Field = option },
        };
        return new IPEndPoint(address, port);
    }

    public static bool IsUnspecified(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);
}

/// <summary>Expands <c>--devices</c> into device names.</summary>
public static partial class DeviceSpec
{
    public static IReadOnlyList<string> Parse(string spec)
    {
        var text = spec.Trim().ToLowerInvariant();
        if (text.StartsWith("cpu:", StringComparison.Ordinal) && int.TryParse(text[4..], out var cpus) && cpus is >= 1 and <= 1024)
        {
            return Enumerable.Range(0, cpus).Select(i => $"cpu:{i}").ToList();
        }
        if (text == "cuda" || text.StartsWith("cuda:", StringComparison.Ordinal))
        {
            var available = CudaDeviceCount();
            var wanted = text == "cuda" ? available : int.TryParse(text[5..], out var n) ? n : -1;
            if (available == 0)
            {
                throw new AlpaException("--devices cuda: no CUDA GPU found (libcuda.so.1 missing or no device); use --devices cpu:N") { Field = "--devices" };
            }
            if (wanted < 1 || wanted > available)
            {
                throw new AlpaException($"--devices {spec}: this host has {available} CUDA device(s); use cuda or cuda:1..{available}") { Field = "--devices" };
            }
            return Enumerable.Range(0, wanted).Select(i => $"cuda:{i}").ToList();
        }
        throw new AlpaException($"--devices '{spec}' is not cpu:N (N ≥ 1), cuda or cuda:N") { Field = "--devices" };
    }

    private static int CudaDeviceCount()
    {
        try
        {
            return cuInit(0) == 0 && cuDeviceGetCount(out var count) == 0 ? count : 0;
        }
        catch (DllNotFoundException)
        {
            return 0;
        }
    }

    [LibraryImport("libcuda.so.1")]
    private static partial int cuInit(uint flags);

    [LibraryImport("libcuda.so.1")]
    private static partial int cuDeviceGetCount(out int count);
}
