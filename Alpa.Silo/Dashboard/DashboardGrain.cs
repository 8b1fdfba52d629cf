using System.Diagnostics;
using System.Text.Json;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting;
using Alpa.Silo.Jobs;

namespace Alpa.Silo.Dashboard;

/// <summary>The silo's <see cref="IDashboardGrain"/>: process facts, grains and their rates, device memory of running jobs.</summary>
public sealed class DashboardGrain(SiloIdentity self, GrainMetrics metrics, GrainCatalog catalog, SiloSampler sampler, JobService jobs) : IDashboardGrain
{
    public Task<SiloStats> GetStatsAsync(CancellationToken cancellationToken = default)
    {
        using var process = Process.GetCurrentProcess();
        var methods = metrics.Report(self.Address).Methods
            .Select(m => new GrainMethodStats(m.Grain, m.Method, m.Calls, m.Errors, sampler.CallsPerSecond(m.Grain, m.Method),
                m.MeanMicroseconds, m.P50Microseconds, m.P99Microseconds))
            .ToList();
        var activations = catalog.Activations();
        var grains = activations.Select(a => a.Grain).Concat(methods.Select(m => m.Grain)).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)
            .Select(g =>
            {
                var of = methods.Where(m => m.Grain == g).ToList();
                var calls = of.Sum(m => m.Calls);
                return new GrainTypeStats(g, [.. activations.Where(a => a.Grain == g).Select(a => a.Key).Order(StringComparer.Ordinal)],
                    calls, of.Sum(m => m.Errors), of.Sum(m => m.CallsPerSecond), calls == 0 ? 0 : of.Sum(m => m.MeanMicroseconds * m.Calls) / calls);
            })
            .ToList();
        return Task.FromResult(new SiloStats
        {
            Address = self.Address,
            Epoch = self.Epoch,
            StartedAt = sampler.StartedAt,
            UptimeSeconds = (DateTimeOffset.UtcNow - sampler.StartedAt).TotalSeconds,
            CpuPercent = sampler.CpuPercent,
            WorkingSetBytes = process.WorkingSet64,
            GcHeapBytes = GC.GetTotalMemory(false),
            Devices = Devices(),
            Grains = grains,
            Methods = methods,
        });
    }

    public Task<GrainStateReply> GetGrainStateAsync(GrainStateRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var found = catalog.Activations().FirstOrDefault(a => a.Grain == request.Grain && a.Key == request.Key);
        var state = found.Instance switch
        {
            null => JsonSerializer.Serialize(new { note = $"no activation of {request.Grain}/{request.Key} on {self.Address}" }),
            IGrainStateReporter reporter => JsonSerializer.Serialize(reporter.DescribeState(), AlpaJson.Options),
            var other => JsonSerializer.Serialize(new { type = other.GetType().Name, note = "this grain does not describe its state (IGrainStateReporter)" }),
        };
        return Task.FromResult(new GrainStateReply(request.Grain, request.Key, self.Address, found.Instance is not null, state));
    }

    /// <summary>Each device with the peak live bytes of the last step of the running job that uses it.</summary>
    private List<DeviceStats> Devices()
    {
        var running = jobs.Runs.Where(r => r.Info.State == Client.Jobs.JobStates.Running).Select(r => (r.Info, r.Metrics)).ToList();
        return [.. self.Devices.Select(d =>
        {
            foreach (var (info, m) in running)
            {
                var names = info.Devices.ToList();
                var i = Math.Max(names.IndexOf(d), names.IndexOf($"{self.Address}/{d}")); // cluster jobs name devices SILO/cpu:N
                if (i >= 0)
                {
                    return new DeviceStats(d, i < m.DevicePeakBytes.Count ? m.DevicePeakBytes[i] : 0, info.Id);
                }
            }
            return new DeviceStats(d, 0, null);
        })];
    }
}
