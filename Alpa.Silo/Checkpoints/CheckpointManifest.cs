using System.Text.Json.Serialization;
using Alpa.Planner;

namespace Alpa.Silo.Checkpoints;

/// <summary>A checkpoint is missing, damaged, or does not fit the model it is loaded into.</summary>
public sealed class CheckpointException : AlpaException
{
    public CheckpointException(string message) : base(message) { }
    public CheckpointException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// The manifest of one committed checkpoint (<c>step-NNNNNNNNN/manifest.json</c>). Its presence is
/// the commit: it is renamed into place only after every shard file it names is written and synced.
/// </summary>
public sealed record CheckpointManifest
{
    /// <summary>Format of this file; readers refuse versions they do not know.</summary>
    public int FormatVersion { get; init; } = CurrentVersion;
    /// <summary>Optimizer steps completed when the state was captured.</summary>
    public required long Step { get; init; }
    /// <summary>Index of the next training batch (data order is a function of the step).</summary>
    public required long DataPosition { get; init; }
    /// <summary>Seed of initialization and data; with <see cref="Step"/> it fixes every random stream.</summary>
    public required ulong RngSeed { get; init; }
    /// <summary>UTC time of the commit, ISO 8601.</summary>
    public required string CreatedUtc { get; init; }
    /// <summary>Free-form facts about the run (model, optimizer, total steps, plan), for checks and inspection.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; init; } = new Dictionary<string, string>();
    /// <summary>Every tensor: parameters and optimizer states.</summary>
    public required IReadOnlyList<TensorEntry> Tensors { get; init; }
    /// <summary>Shard files with their sizes (one per writing rank).</summary>
    public required IReadOnlyList<ShardFileEntry> Files { get; init; }

    public const int CurrentVersion = 1;
    public const string FileName = "manifest.json";
}

/// <summary>One tensor of a checkpoint, as it was laid out when saved.</summary>
public sealed record TensorEntry
{
    /// <summary>Stable name (graph node name).</summary>
    public required string Name { get; init; }
    /// <summary><c>parameter</c> or <c>state</c> (optimizer moments, master weights).</summary>
    public required string Kind { get; init; }
    /// <summary>Logical dtype (<c>f32</c>, <c>f16</c>, <c>bf16</c>, <c>i32</c>); elements are stored as 4-byte little-endian f32 or i32.</summary>
    public required string Dtype { get; init; }
    /// <summary>Global shape.</summary>
    public required long[] Shape { get; init; }
    /// <summary>Sharding spec when saved, one entry per dim (<c>R</c>, <c>S0</c>, <c>S1</c>, <c>S01</c>).</summary>
    public required string[] Spec { get; init; }
    /// <summary>Logical mesh when saved, <c>[n0, n1]</c>.</summary>
    public required int[] Mesh { get; init; }
    /// <summary>Each distinct block once.</summary>
    public required IReadOnlyList<TileEntry> Tiles { get; init; }
}

/// <summary>Where one block of a tensor lives.</summary>
public sealed record TileEntry
{
    /// <summary>The rank that wrote it (lowest rank holding the block).</summary>
    public required int Rank { get; init; }
    /// <summary>First global index per dim.</summary>
    public required long[] Offset { get; init; }
    /// <summary>Block shape.</summary>
    public required long[] Extent { get; init; }
    /// <summary>Shard file name inside the step directory.</summary>
    public required string File { get; init; }
    /// <summary>Byte offset of the block in the file (row-major elements).</summary>
    public required long ByteOffset { get; init; }
    /// <summary>Bytes of the block.</summary>
    public required long ByteLength { get; init; }
    /// <summary>XxHash3 (64-bit) of the block's bytes, 16 hex digits.</summary>
    public required string Xxh3 { get; init; }
}

/// <summary>A shard file and its size when committed.</summary>
public sealed record ShardFileEntry(string Name, long Bytes);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
                             NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(CheckpointManifest))]
[JsonSerializable(typeof(CheckpointPart))]
internal sealed partial class CheckpointJson : JsonSerializerContext;
