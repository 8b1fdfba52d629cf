using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Alpa.Client.Serving;
using Alpa.Planner.Models;
using Alpa.Silo.Serving;

namespace Alpa.Silo.Benchmarks;

/// <summary>One configuration of the serving load test.</summary>
/// <param name="Devices">CPU devices in this process, or of each silo when <paramref name="Silos"/> &gt; 0.</param>
/// <param name="Stages">Exact stage count in this process; null lets the DP choose.</param>
/// <param name="Silos">0: stages in this process; else that many <c>alpa silo</c> processes, one stage each.</param>
public sealed record ServeBenchCase(string Name, bool ContinuousBatching, int Devices, int? Stages, int Silos = 0);

/// <summary>Options of <see cref="ServeBench"/>: the load (bounded in count and time).</summary>
public sealed record ServeBenchOptions
{
    /// <summary>Concurrent streaming clients.</summary>
    public int Clients { get; init; } = 8;
    /// <summary>Requests in all, per case.</summary>
    public int Requests { get; init; } = 32;
    /// <summary>max_tokens of every request.</summary>
    public int MaxTokens { get; init; } = 16;
    /// <summary>Batch slots of the continuous-batching engine.</summary>
    public int Slots { get; init; } = 8;
    /// <summary>Wall-clock limit of one case; unfinished requests are cancelled and reported.</summary>
    public TimeSpan Limit { get; init; } = TimeSpan.FromMinutes(3);
}

/// <summary>Measured numbers of one case.</summary>
public sealed record ServeBenchRow(ServeBenchCase Case, int Completed, int Tokens, double Seconds,
    double TtftP50, double TtftP99, double ItlP50, double ItlP99, string Stages)
{
    public double TokensPerSecond => Tokens / Seconds;
    /// <summary>Tokens/s of every repetition (the row is the median one).</summary>
    public IReadOnlyList<double> Runs { get; init; } = [];
}

/// <summary>
/// Loopback load test of <c>alpa serve</c>: a real Kestrel server per case, concurrent streaming
/// clients (the SDK's <see cref="CompletionClient.StreamAsync"/>), time to first token measured from
/// sending the request, inter-token latency as the gaps between streamed chunks.
/// </summary>
public static class ServeBench
{
    public static IReadOnlyList<ServeBenchCase> DefaultCases { get; } =
    [
        new("continuous batching, 1 device", true, 1, null),
        new("one request at a time, 1 device", false, 1, null),
        new("continuous batching, 2 stages × 2 devices", true, 4, 2),
        new("continuous batching, 2 silo processes × 1 device", true, 1, null, Silos: 2),
    ];

    public static async Task<ServeBenchRow> RunCase(ServeBenchCase c, ServeBenchOptions options, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(options);
        var spec = (GptSpec)ModelZoo.Get("gpt-tiny");
        await using var bench = await ServeBenchModel.CreateAsync(c, spec, options.Slots, log).ConfigureAwait(false);
        var model = bench.Model;
        await using var engine = new GenerationEngine(model, new EngineOptions { QueueCapacity = options.Requests, ContinuousBatching = c.ContinuousBatching });
        await using var server = await CompletionServer.StartAsync(engine, new ServerOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0), ModelName = spec.Name, Deadline = options.Limit,
        }).ConfigureAwait(false);
        using var client = new CompletionClient(server.Address);
        using var limit = new CancellationTokenSource(options.Limit);
        var ttft = new List<double>();
        var itl = new List<double>();
        int completed = 0, tokens = 0, next = -1;
        await OneRequest(client, 0, options.MaxTokens, limit.Token).ConfigureAwait(false);   // warm-up (JIT, pools): not counted
        var clock = Stopwatch.StartNew();
        async Task Worker()
        {
            for (var i = Interlocked.Increment(ref next); i < options.Requests && !limit.IsCancellationRequested; i = Interlocked.Increment(ref next))
            {
                var (first, gaps, count) = await OneRequest(client, i, options.MaxTokens, limit.Token).ConfigureAwait(false);
                lock (ttft)
                {
                    ttft.Add(first);
                    itl.AddRange(gaps);
                    tokens += count;
                    completed++;
                }
            }
        }
        try
        {
            await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(_ => Worker())).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            log.WriteLine($"  {c.Name}: stopped at the {options.Limit.TotalSeconds:F0} s limit");
        }
        var seconds = clock.Elapsed.TotalSeconds;
        var stages = string.Join("; ", model.StageDescriptions);
        return new ServeBenchRow(c, completed, tokens, seconds, Percentile(ttft, 50), Percentile(ttft, 99), Percentile(itl, 50), Percentile(itl, 99), stages);
    }

    private static async Task<(double First, List<double> Gaps, int Tokens)> OneRequest(CompletionClient client, int i, int maxTokens, CancellationToken cancel)
    {
        var prompt = $"req {i}: " + new string((char)('a' + (i % 26)), i % 7);
        var request = new CompletionRequest { Prompt = prompt, MaxTokens = maxTokens, Temperature = 0.8, Seed = i };
        var start = Stopwatch.GetTimestamp();
        long last = 0;
        double first = double.NaN;
        var gaps = new List<double>();
        var count = 0;
        await foreach (var chunk in client.StreamAsync(request, cancel).ConfigureAwait(false))
        {
            var now = Stopwatch.GetTimestamp();
            if (double.IsNaN(first)) first = Stopwatch.GetElapsedTime(start, now).TotalSeconds;
            else gaps.Add(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
            last = now;
            if (chunk.Usage is { } usage) count = usage.CompletionTokens;
        }
        return (first, gaps, count);
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }

    /// <summary>The markdown report: what ran, where, when, under what load, and the table.</summary>
    public static string Markdown(IReadOnlyList<ServeBenchRow> rows, ServeBenchOptions o, string command, string loadBefore, string loadAfter, string uptime)
    {
        ArgumentNullException.ThrowIfNull(rows);
        ArgumentNullException.ThrowIfNull(o);
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("# Serving load test (loopback)").AppendLine();
        sb.AppendLine(ci, $"- command: `{command}`");
        sb.AppendLine(ci, $"- machine: {BenchMachine.Describe()}");
        sb.AppendLine(ci, $"- date: {BenchMachine.Date()}; load average before: {loadBefore}, after: {loadAfter}; `uptime`: {uptime}");
        sb.AppendLine(ci, $"- load: gpt-tiny (random init), {o.Clients} concurrent streaming clients, {o.Requests} requests per case after one warm-up request, max_tokens {o.MaxTokens}, temperature 0.8 (seeded), prompts of 7–14 bytes; {o.Slots} batch slots, prefill chunk 16; limit {o.Limit.TotalSeconds:F0} s per case");
        sb.AppendLine("- TTFT: request sent → first streamed chunk (queue wait included); inter-token latency: gaps between streamed chunks").AppendLine();
        sb.AppendLine("| case | completed | tokens | seconds | tokens/s | TTFT p50 ms | TTFT p99 ms | inter-token p50 ms | inter-token p99 ms |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            sb.AppendLine(ci, $"| {r.Case.Name} | {r.Completed} | {r.Tokens} | {r.Seconds:F2} | {r.TokensPerSecond:F1} | {r.TtftP50 * 1e3:F1} | {r.TtftP99 * 1e3:F1} | {r.ItlP50 * 1e3:F2} | {r.ItlP99 * 1e3:F2} |");
        sb.AppendLine();
        foreach (var r in rows) sb.AppendLine(ci, $"- {r.Case.Name}: {r.Stages}; tokens/s of each run: {string.Join(", ", r.Runs.Select(x => x.ToString("F1", ci)))} (the row is the median run)");
        var cont = rows.FirstOrDefault(r => r.Case.ContinuousBatching && r.Case.Devices == 1);
        var single = rows.FirstOrDefault(r => !r.Case.ContinuousBatching);
        if (cont is not null && single is not null)
            sb.AppendLine().AppendLine(ci, $"Continuous batching vs one request at a time (1 device): {cont.TokensPerSecond / single.TokensPerSecond:F2}× the throughput.");
        return sb.ToString();
    }
}
