using System.Text.Json;
using System.Text.Json.Serialization;
using Alpa.Planner.Graph;

namespace Alpa.Client.Jobs;

/// <summary>
/// What a job trains and how. Give exactly one of <see cref="Model"/> (a built-in name) and
/// <see cref="ModelJson"/> (a model or graph document; <see cref="FromGraph"/> makes one from a
/// C# <see cref="GraphBuilder"/> graph).
/// </summary>
public sealed record JobSpec
{
    /// <summary>Built-in model name (<c>mlp</c>, <c>gpt-tiny</c>, <c>moe-tiny</c>, <c>wresnet-tiny</c> …).</summary>
    public string? Model { get; init; }
    /// <summary>A JSON model file's text: a family with sizes, or a whole graph (docs/graph-format.md).</summary>
    public string? ModelJson { get; init; }
    /// <summary>Free-form label shown in listings; defaults to the model's name.</summary>
    public string? Name { get; init; }
    /// <summary>Silos and devices the job asks for.</summary>
    public ClusterRequest Cluster { get; init; } = new();
    /// <summary>Optimizer steps (1 … 1,000,000).</summary>
    public int Steps { get; init; } = 20;
    /// <summary>Microbatches per step (gradient accumulation / pipeline depth).</summary>
    public int Microbatches { get; init; } = 1;
    /// <summary><c>adam</c> or <c>sgd</c>.</summary>
    public string Optimizer { get; init; } = "adam";
    /// <summary>Peak learning rate; null: 3e-3 for Adam, 0.1 for SGD.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Global batch; null: the model's own.</summary>
    public int? Batch { get; init; }
    /// <summary>Seed of the initialization and of the data.</summary>
    public int Seed { get; init; }
    /// <summary>Data source: <c>synthetic</c> (deterministic from the seed and step).</summary>
    public string Data { get; init; } = "synthetic";
    /// <summary>Checkpoints and automatic recovery from a silo's death (jobs across silos); null: none, a dead silo fails the job.</summary>
    public JobCheckpoints? Checkpoints { get; init; }

    /// <summary>A spec that trains <paramref name="graph"/> (built with <see cref="GraphBuilder"/>; it must have a loss).</summary>
    public static JobSpec FromGraph(Graph graph, int steps = 20) => new() { ModelJson = GraphJson.Write(graph), Steps = steps };
}

/// <summary>
/// Checkpoints of a job across silos and what happens when one of its silos dies: with <see cref="Recover"/>
/// the job re-plans on the silos alive (after waiting for a replacement), restores its last committed
/// checkpoint and continues on the same trajectory; its events say what happened (<see cref="JobEventKinds"/>).
/// </summary>
public sealed record JobCheckpoints
{
    /// <summary>Absolute directory of the job's checkpoints on the silos: every silo of the job must reach it at this path (a shared filesystem; a local disk when the silos share a machine).</summary>
    public string Directory { get; init; } = "";
    /// <summary>Checkpoint when the number of steps done is a multiple of this (and after the last step); at least 1.</summary>
    public int Every { get; init; } = 10;
    /// <summary>Committed checkpoints to keep (older ones are deleted); at least 1.</summary>
    public int Keep { get; init; } = 3;
    /// <summary>
    /// Commit each checkpoint before the next step (true); else (the default) it is written while the next steps run.
    /// Blocking saves bound the steps a silo's death loses by <see cref="Every"/>; background saves by twice that (a death
    /// while a checkpoint is still being written loses it too), for less time spent saving.
    /// </summary>
    public bool Blocking { get; init; }
    /// <summary>On a silo's death, re-plan on the silos alive and restore the last checkpoint; false: the job fails, naming the silo.</summary>
    public bool Recover { get; init; } = true;
    /// <summary>After a death, seconds to wait for a replacement silo (the job's silo count back) before re-planning on fewer; 0 … 3600.</summary>
    public double WaitForReplacementSeconds { get; init; } = 5;
    /// <summary>Recoveries tolerated before the job fails for good; 0 … 1000.</summary>
    public int MaxRecoveries { get; init; } = 10;
}

/// <summary>The part of the cluster a job asks for.</summary>
/// <param name="Silos">Silos (hosts) the job spans: 1 runs on the accepting silo; more (or <see cref="AllSilos"/>,
/// written <c>"all"</c> in JSON) run one pipeline stage per silo, driven from the accepting silo.</param>
/// <param name="Devices">Devices per silo; the job's mesh is Silos × Devices.</param>
public sealed record ClusterRequest([property: JsonConverter(typeof(SiloCountConverter))] int Silos = 1, int Devices = 1)
{
    /// <summary>Value of <see cref="Silos"/> that asks for every active silo of the cluster.</summary>
    public const int AllSilos = 0;
}

/// <summary>Reads a silo count as a number or <c>"all"</c> (<see cref="ClusterRequest.AllSilos"/>); writes <c>"all"</c> for it.</summary>
public sealed class SiloCountConverter : JsonConverter<int>
{
    public override int Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            var text = reader.GetString();
            return string.Equals(text, "all", StringComparison.OrdinalIgnoreCase) ? ClusterRequest.AllSilos
                : int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n
                : throw new JsonException($"cluster.silos is '{text}'; write a number of silos or \"all\"");
        }
        return reader.GetInt32();
    }

    public override void Write(Utf8JsonWriter writer, int value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value == ClusterRequest.AllSilos) writer.WriteStringValue("all");
        else writer.WriteNumberValue(value);
    }
}
