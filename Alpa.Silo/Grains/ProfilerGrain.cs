using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Silo.Hosting;

namespace Alpa.Silo.Grains;

/// <summary>
/// Measures this silo's devices once per process (see <see cref="IProfilerGrain"/>): a 512³ GEMM with all
/// cores (best of 6), a 64 MiB memory copy (best of 3), memory per device from MemAvailable.
/// </summary>
public sealed class ProfilerGrain(SiloIdentity self) : IProfilerGrain
{
    private static readonly Lock Gate = new();
    private static DeviceProfile? _cached;

    public Task<DeviceProfile> ProfileDevicesAsync(CancellationToken cancellationToken = default)
    {
        lock (Gate)
        {
            if (_cached is not null && _cached.Silo == self.Address) return Task.FromResult(_cached with { FromCache = true });
            var start = Stopwatch.GetTimestamp();
            var devices = Math.Max(1, self.Devices.Count);
            var gemm = Benchmarks.BenchMachine.GemmFlops(512, 6);
            var copy = Cli.LocalClusterProbe.CopyBytesPerSecond();
            var memory = Cli.LocalClusterProbe.AvailableMemory() / devices;
            _cached = new DeviceProfile(self.Address, devices, gemm, copy, memory, Stopwatch.GetElapsedTime(start).TotalSeconds, false);
            Serilog.Log.Information("Profiled {Devices} device(s): GEMM {Gflops:F1} GFLOP/s, copy {Copy:F2} GiB/s in {Seconds:F2} s",
                devices, gemm / 1e9, copy / (1L << 30), _cached.MeasureSeconds);
            return Task.FromResult(_cached);
        }
    }
}
