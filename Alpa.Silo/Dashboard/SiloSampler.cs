using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Silo.Hosting;
using Microsoft.Extensions.Hosting;

namespace Alpa.Silo.Dashboard;

/// <summary>
/// Samples the process CPU time and the grain counters every 2 s so the dashboard can show CPU %
/// and calls per second (over the last ~10 s) without keeping per-call history.
/// </summary>
public sealed class SiloSampler(GrainMetrics metrics, SiloIdentity self) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(2);
    private const int Window = 5;
    private readonly Queue<(long Timestamp, TimeSpan Cpu, GrainMetricsReport Report)> _samples = new();

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>Process CPU over the window, percent of all cores.</summary>
    public double CpuPercent
    {
        get
        {
            var (first, last) = Ends();
            var wall = Stopwatch.GetElapsedTime(first.Timestamp, last.Timestamp).TotalSeconds;
            return wall <= 0 ? 0 : 100 * (last.Cpu - first.Cpu).TotalSeconds / wall / Environment.ProcessorCount;
        }
    }

    /// <summary>Calls per second of each (grain, method) over the window.</summary>
    public double CallsPerSecond(string grain, string method)
    {
        var (first, _) = Ends();
        var now = metrics.Report(self.Address).Methods.FirstOrDefault(m => m.Grain == grain && m.Method == method);
        var then = first.Report.Methods.FirstOrDefault(m => m.Grain == grain && m.Method == method);
        var wall = Stopwatch.GetElapsedTime(first.Timestamp).TotalSeconds;
        return now is null || wall < 0.5 ? 0 : (now.Calls - (then?.Calls ?? 0)) / wall;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period);
        do
        {
            using var process = Process.GetCurrentProcess();
            lock (_samples)
            {
                _samples.Enqueue((Stopwatch.GetTimestamp(), process.TotalProcessorTime, metrics.Report(self.Address)));
                if (_samples.Count > Window)
                {
                    _samples.Dequeue();
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private ((long Timestamp, TimeSpan Cpu, GrainMetricsReport Report) First, (long Timestamp, TimeSpan Cpu, GrainMetricsReport Report) Last) Ends()
    {
        lock (_samples)
        {
            if (_samples.Count == 0)
            {
                var empty = (Stopwatch.GetTimestamp(), TimeSpan.Zero, new GrainMetricsReport(self.Address, []));
                return (empty, empty);
            }
            return (_samples.Peek(), _samples.Last());
        }
    }
}
