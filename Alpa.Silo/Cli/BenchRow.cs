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
