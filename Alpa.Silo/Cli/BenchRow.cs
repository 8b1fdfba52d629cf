using System.Text.Json;

namespace Alpa.Silo.Cli;

/// <summary>One measured (model, GPU count, method) of a benchmark suite.</summary>
internal sealed record BenchRow
{
    public required string Family { get; init; }
    public required string Model { get; init; }
    public required int Gpus { get; init; }
    /// <summary>auto, intra-only, inter-only or a baseline's name.</summary>
    public required string Method { get; init; }
    /// <summary>Model FLOPs per step / simulated step time / devices, TFLOP/s (0 when out of memory).</summary>
    public double TflopsPerDevice { get; init; }
    /// <summary>Model FLOPs per step / simulated step time for the whole cluster, PFLOP/s.</summary>
    public double Pflops { get; init; }
    public double StepSeconds { get; init; }
    public bool Oom { get; init; }
    public double CompileSeconds { get; init; }
    /// <summary>The plan's shape: the winning grid point of a baseline, the stages and microbatches of Alpa's plan.</summary>
    public string Config { get; init; } = "";
    /// <summary>Why the method does not apply (e.g. fewer layers than devices for inter-only); empty when it ran.</summary>
    public string Error { get; init; } = "";

    /// <summary>
    /// The rows of an earlier run of the same day in <paramref name="path"/> that <paramref name="fresh"/>
    /// does not measure again, followed by <paramref name="fresh"/>: partial runs (one family, fewer GPUs)
    /// add up to one results file.
    /// </summary>
    public static List<BenchRow> Merge(string path, IReadOnlyList<BenchRow> fresh)
    {
        var rows = new List<BenchRow>();
        if (File.Exists(path))
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            foreach (var e in doc.RootElement.GetProperty("rows").EnumerateArray())
            {
                var old = Read(e);
                if (!fresh.Any(f => f.Model == old.Model && f.Gpus == old.Gpus && f.Method == old.Method)) rows.Add(old);
            }
        }
        rows.AddRange(fresh);
        var order = new[] { "gpt", "moe", "wresnet" };
        return [.. rows.OrderBy(r => Array.IndexOf(order, r.Family)).ThenBy(r => r.Gpus).ThenBy(r => MethodOrder(r.Method))];
    }

    private static int MethodOrder(string method) => method switch { "auto" => 0, "intra-only" => 1, "inter-only" => 2, _ => 3 };

    private static BenchRow Read(JsonElement e) => new()
    {
        Family = e.GetProperty("family").GetString()!,
        Model = e.GetProperty("model").GetString()!,
        Gpus = e.GetProperty("gpus").GetInt32(),
        Method = e.GetProperty("method").GetString()!,
        TflopsPerDevice = e.GetProperty("tflops_per_device").GetDouble(),
        Pflops = e.GetProperty("pflops").GetDouble(),
        Oom = e.GetProperty("oom").GetBoolean(),
        CompileSeconds = e.GetProperty("compile_seconds").GetDouble(),
        StepSeconds = e.GetProperty("step_seconds").GetDouble(),
        Config = e.TryGetProperty("config", out var c) ? c.GetString() ?? "" : "",
        Error = e.TryGetProperty("error", out var x) ? x.GetString() ?? "" : "",
    };

    public void Write(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("family", Family);
        w.WriteString("model", Model);
        w.WriteNumber("gpus", Gpus);
        w.WriteString("method", Method);
        w.WriteNumber("tflops_per_device", Math.Round(TflopsPerDevice, 4));
        w.WriteNumber("pflops", Math.Round(Pflops, 6));
        w.WriteBoolean("oom", Oom);
        w.WriteNumber("compile_seconds", Math.Round(CompileSeconds, 3));
        w.WriteNumber("step_seconds", StepSeconds);
        w.WriteString("config", Config);
        if (Error.Length > 0) w.WriteString("error", Error);
        w.WriteEndObject();
    }
}
