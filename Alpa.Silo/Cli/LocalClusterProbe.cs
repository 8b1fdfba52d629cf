using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Alpa.Planner.Cluster;

namespace Alpa.Silo.Cli;

/// <summary>
/// Measures this machine for a <c>local:HxD</c> cluster: the GEMM rate all cores reach, shared by
/// the H·D logical devices (they share the cores); the memory copy bandwidth; loopback TCP
/// bandwidth between "hosts" (silo processes); memory per device from MemAvailable. With
/// <c>runtime</c>, also the runtime's fixed costs and small-kernel rates
/// (<see cref="Execution.Bench.OverheadProbe"/>, a few seconds): what <c>alpa profile</c> and
/// <c>alpa bench pipeline</c> use so that predicted step times of tiny models are honest.
/// </summary>
internal static class LocalClusterProbe
{
    public static ClusterSpec Measure(int hosts, int devicesPerHost, bool runtime = false)
    {
        var spec = MeasureRates(hosts, devicesPerHost);
        return runtime ? Execution.Bench.OverheadProbe.Calibrate(spec) : spec;
    }

    private static ClusterSpec MeasureRates(int hosts, int devicesPerHost)
    {
        var devices = Math.Max(1, hosts * devicesPerHost);
        var gemm = Benchmarks.BenchMachine.GemmFlops(512, 6);
        var copy = CopyBytesPerSecond();
        var loopback = hosts > 1 ? LoopbackBytesPerSecond() : copy;
        var memory = AvailableMemory() / devices;
        return BuiltInClusters.ForLocal(hosts, devicesPerHost, gemm / devices, copy / devices, loopback, memory);
    }

    internal static double CopyBytesPerSecond()
    {
        var src = new byte[64 << 20];
        var dst = new byte[64 << 20];
        src.AsSpan().Fill(1);
        double best = 0;
        for (var rep = 0; rep < 3; rep++)
        {
            var t = Stopwatch.GetTimestamp();
            src.AsSpan().CopyTo(dst);
            best = Math.Max(best, src.Length / Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        return best;
    }

    private static double LoopbackBytesPerSecond()
    {
        const int total = 64 << 20;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var reader = Task.Run(() =>
        {
            using var s = listener.AcceptSocket();
            var buf = new byte[1 << 20];
            long got = 0;
            while (got < total)
            {
                var r = s.Receive(buf);
                if (r == 0) break;
                got += r;
            }
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(IPAddress.Loopback, port);
        var chunk = new byte[1 << 20];
        var t = Stopwatch.GetTimestamp();
        for (var sent = 0; sent < total; sent += chunk.Length) client.Send(chunk);
        reader.Wait();
        return total / Stopwatch.GetElapsedTime(t).TotalSeconds;
    }

    internal static long AvailableMemory()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
            {
                if (!line.StartsWith("MemAvailable:", StringComparison.Ordinal)) continue;
                var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture);
                return kb * 1024;
            }
        }
        catch (IOException)
        {
        }
        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }
}
