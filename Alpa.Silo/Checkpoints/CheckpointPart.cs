using System.Globalization;
using System.Text.Json;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// What one writer (a process's ranks, or one pipeline stage's mesh worker on a silo) contributed to a
/// checkpoint: its tensors with their tiles and checksums, and its synced shard files. The driver
/// merges every part into the manifest (<see cref="CheckpointPart.Merge"/>) and commits it.
/// </summary>
public sealed record CheckpointPart
{
    /// <summary>The part's tensors (each tensor lives in exactly one part).</summary>
    public required IReadOnlyList<TensorEntry> Tensors { get; init; }
    /// <summary>The part's shard files, written and synced.</summary>
    public required IReadOnlyList<ShardFileEntry> Files { get; init; }

    /// <summary>
    /// Phase one of a save: writes one file per rank of <paramref name="snapshot"/> into
    /// <paramref name="directory"/> (named <paramref name="filePrefix"/><c>rank-NNNNN.bin</c>), syncs each,
    /// calls <paramref name="faultHook"/> after each, and returns the part.
    /// </summary>
    public static CheckpointPart Write(string directory, CheckpointSnapshot snapshot, string filePrefix, bool parallel,
                                       Action<CheckpointFault>? faultHook, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var ranks = snapshot.Tensors.Max(t => t.Layout.Mesh.Devices);
        var results = new (List<(string Tensor, TileEntry Tile)> Tiles, ShardFileEntry File)[ranks];
        var written = 0;
        void WriteRank(int r)
        {
            results[r] = ShardFileWriter.Write(directory, r, snapshot.Tensors, filePrefix, cancel);
            var done = Interlocked.Increment(ref written);
            faultHook?.Invoke(new CheckpointFault(snapshot.Step, CheckpointFaultPoint.AfterShardFile, done, ranks));
        }
        if (parallel) Parallel.For(0, ranks, new ParallelOptions { CancellationToken = cancel }, WriteRank);
        else for (var r = 0; r < ranks; r++) WriteRank(r);

        var byTensor = results.SelectMany(r => r.Tiles).ToLookup(t => t.Tensor, t => t.Tile, StringComparer.Ordinal);
        return new CheckpointPart
        {
            Tensors = [.. snapshot.Tensors.Select(t => new TensorEntry
            {
                Name = t.Name, Kind = t.Kind, Dtype = t.Dtype, Shape = t.Layout.Shape, Spec = t.Layout.Spec.ToStrings(),
                Mesh = [t.Layout.Mesh.N0, t.Layout.Mesh.N1],
                Tiles = [.. byTensor[t.Name].OrderBy(e => e.Rank)],
            })],
            Files = [.. results.Select(r => r.File)],
        };
    }

    /// <summary>The manifest of a checkpoint made of <paramref name="parts"/>; a tensor in two parts is an error.</summary>
    public static CheckpointManifest Merge(long step, ulong seed, IReadOnlyDictionary<string, string> metadata, IEnumerable<CheckpointPart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var list = parts.ToList();
        var twice = list.SelectMany(p => p.Tensors).GroupBy(t => t.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new CheckpointException($"two writers saved tensor '{twice.Key}'");
        var files = list.SelectMany(p => p.Files).GroupBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (files is not null) throw new CheckpointException($"two writers wrote shard file {files.Key}");
        return new CheckpointManifest
        {
            Step = step,
            DataPosition = step,
            RngSeed = seed,
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
            Metadata = metadata,
            Tensors = [.. list.SelectMany(p => p.Tensors)],
            Files = [.. list.SelectMany(p => p.Files)],
        };
    }

    public string ToJson() => JsonSerializer.Serialize(this, CheckpointJson.Default.CheckpointPart);

    public static CheckpointPart FromJson(string json)
    {
        try
        {
            return JsonSerializer.Deserialize(json, CheckpointJson.Default.CheckpointPart) ?? throw new CheckpointException("a worker sent an empty checkpoint part");
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"a worker sent a checkpoint part that is not valid JSON: {e.Message}", e);
        }
    }
}
