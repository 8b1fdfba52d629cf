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
    /// Phase one of a save: writes one file per captured rank of <paramref name="snapshot"/> (<see cref="CheckpointSnapshot.Writers"/>)
    /// into <paramref name="directory"/> (named <paramref name="filePrefix"/><c>rank-NNNNN.bin</c>), syncs each,
    /// calls <paramref name="faultHook"/> after each, and returns the part.
    /// </summary>
    public static CheckpointPart Write(string directory, CheckpointSnapshot snapshot, string filePrefix, bool parallel,
                                       Action<CheckpointFault>? faultHook, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var writers = snapshot.Writers;
        var results = new (List<(string Tensor, TileEntry Tile)> Tiles, ShardFileEntry File)[writers.Count];
        var written = 0;
        void WriteRank(int i)
        {
            results[i] = ShardFileWriter.Write(directory, writers[i], snapshot.Tensors, filePrefix, cancel);
            var done = Interlocked.Increment(ref written);
            faultHook?.Invoke(new CheckpointFault(snapshot.Step, CheckpointFaultPoint.AfterShardFile, done, writers.Count));
        }
        if (parallel) Parallel.For(0, writers.Count, new ParallelOptions { CancellationToken = cancel }, WriteRank);
        else for (var i = 0; i < writers.Count; i++) WriteRank(i);

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

    /// <summary>The tensors and files of several parts as one (a silo's stages, or the silos of a spanning mesh).</summary>
    public static CheckpointPart Combine(IEnumerable<CheckpointPart> parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var list = parts.ToList();
        return new CheckpointPart { Tensors = MergeTensors(list), Files = [.. list.SelectMany(p => p.Files)] };
    }

    /// <summary>
    /// The manifest of a checkpoint made of <paramref name="parts"/>. A tensor of a mesh spanning writers comes in
    /// several parts, each with the blocks its writer stored; the parts must agree on its layout, store no block
    /// twice, and together cover every element (a writer missing from the commit is an error, not a hole).
    /// </summary>
    public static CheckpointManifest Merge(long step, ulong seed, IReadOnlyDictionary<string, string> metadata, IEnumerable<CheckpointPart> parts)
    {
        var merged = Combine(parts);
        var files = merged.Files.GroupBy(f => f.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (files is not null) throw new CheckpointException($"two writers wrote shard file {files.Key}");
        foreach (var t in merged.Tensors)
        {
            var (stored, total) = (t.Tiles.Sum(e => TileGeometry.Count(e.Extent)), TileGeometry.Count(t.Shape));
            if (stored != total)
                throw new CheckpointException($"the writers stored {stored} of the {total} elements of '{t.Name}': a part of its mesh is missing from the checkpoint");
        }
        return new CheckpointManifest
        {
            Step = step,
            DataPosition = step,
            RngSeed = seed,
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
            Metadata = metadata,
            Tensors = merged.Tensors,
            Files = merged.Files,
        };
    }

    /// <summary>Each tensor once, with the blocks of every part; parts that disagree on its layout or store a block twice are an error.</summary>
    private static List<TensorEntry> MergeTensors(IReadOnlyList<CheckpointPart> parts)
    {
        var merged = new List<TensorEntry>();
        foreach (var group in parts.SelectMany(p => p.Tensors).GroupBy(t => t.Name, StringComparer.Ordinal))
        {
            var first = group.First();
            var other = group.FirstOrDefault(t => t.Kind != first.Kind || t.Dtype != first.Dtype || !t.Shape.AsSpan().SequenceEqual(first.Shape)
                                                  || !t.Spec.AsSpan().SequenceEqual(first.Spec) || !t.Mesh.AsSpan().SequenceEqual(first.Mesh));
            if (other is not null)
                throw new CheckpointException($"two writers saved tensor '{first.Name}' under different layouts: {Describe(first)} and {Describe(other)}");
            var tiles = group.SelectMany(t => t.Tiles).OrderBy(e => e.Rank).ToList();
            var twice = tiles.GroupBy(e => new Box(e.Offset, e.Extent)).FirstOrDefault(g => g.Count() > 1);
            if (twice is not null) throw new CheckpointException($"two writers saved block {twice.Key} of tensor '{first.Name}'");
            merged.Add(first with { Tiles = tiles });
        }
        return merged;
    }

    private static string Describe(TensorEntry t) =>
        $"{t.Kind} {t.Dtype} [{string.Join(", ", t.Shape)}] as [{string.Join(", ", t.Spec)}] on ({string.Join(", ", t.Mesh)})";

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
