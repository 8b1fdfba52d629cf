using System.Collections.Concurrent;
using System.Diagnostics;
using Alpa.Client.Contracts;

namespace Alpa.Silo.Hosting;

/// <summary>
/// Per grain method executed on this silo: calls, errors and a latency histogram (log-spaced
/// buckets from 1 µs to ~1 h, ≈ 9 % wide), for the dashboard and <see cref="ISiloGrain.GetMetricsAsync"/>.
/// </summary>
public sealed class GrainMetrics
{
    private readonly ConcurrentDictionary<(string Grain, string Method), MethodCounters> _methods = new();

    /// <summary>Starts timing one call; dispose the result with the call's outcome.</summary>
    public MethodCounters For(string grain, string method) => _methods.GetOrAdd((grain, method), _ => new MethodCounters());

    /// <summary>
    /// A report of every method; <c>ToArray</c> first takes a consistent copy (sorting the dictionary itself
    /// reads Count, then copies: a method first called in between made the sampler throw and stop the silo).
    /// </summary>
    public GrainMetricsReport Report(string silo) => new(silo, _methods.ToArray()
        .OrderBy(p => p.Key.Grain, StringComparer.Ordinal).ThenBy(p => p.Key.Method, StringComparer.Ordinal)
        .Select(p => p.Value.Snapshot(p.Key.Grain, p.Key.Method)).ToList());

    public sealed class MethodCounters
    {
        private const int Buckets = 256;
        private const double Growth = 1.09;
        private readonly long[] _histogram = new long[Buckets];
        private long _calls;
        private long _errors;
        private long _totalTicks;

        public void Record(long startTimestamp, bool failed)
        {
            var elapsed = Stopwatch.GetElapsedTime(startTimestamp);
            Interlocked.Increment(ref _calls);
            if (failed)
            {
                Interlocked.Increment(ref _errors);
            }
            Interlocked.Add(ref _totalTicks, elapsed.Ticks);
            var micros = Math.Max(1.0, elapsed.TotalMicroseconds);
            var bucket = Math.Min(Buckets - 1, (int)(Math.Log(micros) / Math.Log(Growth)));
            Interlocked.Increment(ref _histogram[bucket]);
        }

        internal GrainMethodMetrics Snapshot(string grain, string method)
        {
            var calls = Interlocked.Read(ref _calls);
            var counts = _histogram.Select(c => Interlocked.Read(ref c)).ToArray();
            var mean = calls == 0 ? 0 : TimeSpan.FromTicks(Interlocked.Read(ref _totalTicks) / calls).TotalMicroseconds;
            return new GrainMethodMetrics(grain, method, calls, Interlocked.Read(ref _errors), mean, Percentile(counts, 0.50), Percentile(counts, 0.99));
        }

        private static double Percentile(long[] counts, double q)
        {
            var total = counts.Sum();
            if (total == 0)
            {
                return 0;
            }
            var rank = (long)Math.Ceiling(q * total);
            long seen = 0;
            for (var i = 0; i < counts.Length; i++)
            {
                seen += counts[i];
                if (seen >= rank)
                {
                    return Math.Pow(Growth, i + 0.5);
                }
            }
            return Math.Pow(Growth, counts.Length);
        }
    }
}
