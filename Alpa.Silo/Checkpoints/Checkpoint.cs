using System.Buffers;
using System.Runtime.InteropServices;
using Alpa.Kernels;
using Alpa.Planner.Sharding;
using Microsoft.Win32.SafeHandles;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// One committed checkpoint. Opening checks the manifest and every shard file's size, and (with
/// <c>verify</c>) streams every block once through its checksum. Tensors are read under any
/// destination layout (<see cref="ReadShards"/>): each stored block that overlaps a destination
/// block is read once, its checksum checked, and placed into every destination block it covers,
/// whatever plan and mesh saved it. Nothing is held in memory between reads.
/// </summary>
public sealed class Checkpoint
{
    private readonly Dictionary<string, TensorEntry> _tensors;

    private Checkpoint(string path, CheckpointManifest manifest)
    {
        Path = path;
        Manifest = manifest;
        _tensors = manifest.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public CheckpointManifest Manifest { get; }
    public long Step => Manifest.Step;

    /// <summary>
    /// Opens a step directory: reads the manifest and checks every shard file's size; with
    /// <paramref name="verify"/>, also reads every block once and checks its XxHash3 (reads verify
    /// the blocks they touch either way, so a restore can skip this pass).
    /// </summary>
    public static Checkpoint Open(string stepDirectory, bool verify = true, CancellationToken cancel = default)
    {
        var checkpoint = new Checkpoint(stepDirectory, CheckpointStore.ReadManifest(stepDirectory));
        foreach (var file in checkpoint.Manifest.Files)
        {
            var info = new FileInfo(System.IO.Path.Combine(stepDirectory, file.Name));
            if (!info.Exists) throw new CheckpointException($"shard file {file.Name} is missing");
            if (info.Length != file.Bytes) throw new CheckpointException($"shard file {file.Name} has {info.Length} bytes, the manifest says {file.Bytes} (truncated?)");
        }
        if (verify) checkpoint.VerifyAll(cancel);
        return checkpoint;
    }

    /// <summary>Tensor names in the checkpoint.</summary>
    public IEnumerable<string> Names => _tensors.Keys;

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorEntry Entry(string name) =>
        _tensors.TryGetValue(name, out var e) ? e : throw new CheckpointException($"the checkpoint at {Path} has no tensor '{name}'");

    /// <summary>The layout the tensor was saved under.</summary>
    public TensorLayout SavedLayout(string name)
    {
        var e = Entry(name);
        return new TensorLayout(e.Shape, ShardingSpec.Parse(e.Spec), new MeshShape(e.Mesh[0], e.Mesh[1]));
    }

    /// <summary>The whole tensor.</summary>
    public HostTensor ReadFull(string name) => ReadShard(name, TensorLayout.Whole(Entry(name).Shape), 0);

    /// <summary>The block rank <paramref name="rank"/> holds under <paramref name="destination"/>.</summary>
    public HostTensor ReadShard(string name, TensorLayout destination, int rank)
    {
        ArgumentNullException.ThrowIfNull(destination);
        CheckShape(name, destination);
        return Read(name, [TileGeometry.TileOf(destination, rank)])[0];
    }

    /// <summary>
    /// The block of every rank under <paramref name="destination"/>, indexed by rank (ranks holding the
    /// same block share one tensor). Each stored block is read and verified once for all ranks.
    /// </summary>
    public IReadOnlyList<HostTensor> ReadShards(string name, TensorLayout destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        return ReadShards(name, destination, [.. Enumerable.Range(0, destination.Mesh.Devices)]);
    }

    /// <summary>
    /// The blocks of ranks <paramref name="ranks"/> under <paramref name="destination"/>, in that order (a part of a
    /// mesh spanning silos reads only the regions its own ranks hold). Each stored block is read and verified once.
    /// </summary>
    public IReadOnlyList<HostTensor> ReadShards(string name, TensorLayout destination, IReadOnlyList<int> ranks)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentNullException.ThrowIfNull(ranks);
        CheckShape(name, destination);
        var boxes = ranks.Select(r => TileGeometry.TileOf(destination, r)).ToList();
        var distinct = boxes.Distinct().ToList();
        var read = Read(name, distinct);
        return [.. boxes.Select(b => read[distinct.IndexOf(b)])];
    }

    /// <summary>The kernels' element type of a manifest dtype name.</summary>
    public static ElementType ElementTypeOf(string dtype) => dtype switch
    {
        "f32" => ElementType.F32,
        "f16" => ElementType.F16,
        "bf16" => ElementType.BF16,
        "i32" => ElementType.I32,
        _ => throw new CheckpointException($"unknown dtype '{dtype}' in the manifest (f32, f16, bf16 or i32)"),
    };

    /// <summary>The manifest dtype name of a kernels' element type.</summary>
    public static string DtypeName(ElementType type) => type switch
    {
        ElementType.F16 => "f16",
        ElementType.BF16 => "bf16",
        ElementType.I32 => "i32",
        _ => "f32",
    };

    private void CheckShape(string name, TensorLayout destination)
    {
        var e = Entry(name);
        if (!e.Shape.AsSpan().SequenceEqual(destination.Shape))
            throw new CheckpointException($"'{name}' is [{string.Join(", ", e.Shape)}] in the checkpoint, the model wants [{string.Join(", ", destination.Shape)}]");
    }

    /// <summary>Reads the destination blocks <paramref name="boxes"/> of one tensor.</summary>
    private HostTensor[] Read(string name, IReadOnlyList<Box> boxes)
    {
        var e = Entry(name);
        var type = ElementTypeOf(e.Dtype);
        if (type == ElementType.I32)
            return [.. Place<int>(e, boxes).Select((a, i) => HostTensor.FromInts(a, boxes[i].Extent))];
        return [.. Place<float>(e, boxes).Select((a, i) => HostTensor.FromFloats(type, a, boxes[i].Extent))];
    }

    /// <summary>
    /// The read path: every stored block that overlaps a destination is read once, straight into the
    /// destination when it is exactly that block, else into a pooled buffer; hashed; then copied into
    /// every destination it overlaps. Checks that each destination is covered.
    /// </summary>
    private T[][] Place<T>(TensorEntry e, IReadOnlyList<Box> boxes) where T : unmanaged
    {
        var targets = boxes.Select(b => GC.AllocateUninitializedArray<T>((int)b.Elements)).ToArray();
        var covered = new long[boxes.Count];
        var files = new Dictionary<string, SafeFileHandle>(StringComparer.Ordinal);
        try
        {
            foreach (var tile in e.Tiles)
            {
                var box = new Box(tile.Offset, tile.Extent);
                var overlaps = boxes.Select((b, i) => (Index: i, Region: TileGeometry.Intersect(box, b))).Where(o => o.Region is not null).ToList();
                if (overlaps.Count == 0) continue;
                var handle = Handle(files, tile.File);
                var exact = overlaps.FindIndex(o => boxes[o.Index].Equals(box));
                if (exact >= 0)
                {
                    var home = targets[overlaps[exact].Index];
                    ReadVerified(handle, e, tile, home.AsSpan());
                    Spread(box, home, overlaps, boxes, targets, covered);
                    continue;
                }
                var elements = (int)TileGeometry.Count(tile.Extent);
                var buffer = ArrayPool<T>.Shared.Rent(elements);
                try
                {
                    ReadVerified(handle, e, tile, buffer.AsSpan(0, elements));
                    Spread(box, buffer, overlaps, boxes, targets, covered);
                }
                finally
                {
                    ArrayPool<T>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            foreach (var h in files.Values) h.Dispose();
        }
        for (var i = 0; i < boxes.Count; i++)
            if (covered[i] < boxes[i].Elements)
                throw new CheckpointException($"the tiles of '{e.Name}' cover {covered[i]} of the {boxes[i].Elements} elements of block {boxes[i]}");
        return targets;
    }

    /// <summary>Copies one source block's overlap into each destination (the source's own destination just counts).</summary>
    private static void Spread<T>(Box box, T[] data, List<(int Index, Box? Region)> overlaps, IReadOnlyList<Box> boxes, T[][] targets, long[] covered)
    {
        foreach (var (i, region) in overlaps)
        {
            if (!ReferenceEquals(targets[i], data)) TileGeometry.CopyRegion(box, data, boxes[i], targets[i], region!);
            covered[i] += region!.Elements;
        }
    }

    private SafeFileHandle Handle(Dictionary<string, SafeFileHandle> files, string file)
    {
        if (!files.TryGetValue(file, out var handle))
        {
            var path = System.IO.Path.Combine(Path, file);
            if (!File.Exists(path)) throw new CheckpointException($"shard file {file} is missing");
            files[file] = handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan);
        }
        return handle;
    }

    /// <summary>Reads one block into <paramref name="into"/> (its exact size) and checks its length and hash.</summary>
    private static void ReadVerified<T>(SafeFileHandle handle, TensorEntry tensor, TileEntry tile, Span<T> into) where T : unmanaged
    {
        if (tile.ByteLength != (long)into.Length * 4)
            throw new CheckpointException($"'{tensor.Name}' block {new Box(tile.Offset, tile.Extent)} claims {tile.ByteLength} bytes, its shape needs {into.Length * 4L}");
        var bytes = MemoryMarshal.AsBytes(into);
        var offset = tile.ByteOffset;
        while (bytes.Length > 0)
        {
            var n = RandomAccess.Read(handle, bytes, offset);
            if (n == 0) throw new CheckpointException($"'{tensor.Name}' block {new Box(tile.Offset, tile.Extent)} runs past the end of {tile.File} (truncated)");
            offset += n;
            bytes = bytes[n..];
        }
        var hash = ShardFileWriter.Hash(MemoryMarshal.AsBytes(into));
        if (hash != tile.Xxh3)
            throw new CheckpointException($"'{tensor.Name}' block {new Box(tile.Offset, tile.Extent)} in {tile.File} has checksum {hash}, the manifest says {tile.Xxh3} (corrupt)");
    }

    /// <summary>Streams every block through its checksum (one pooled buffer; nothing kept).</summary>
    private void VerifyAll(CancellationToken cancel)
    {
        var files = new Dictionary<string, SafeFileHandle>(StringComparer.Ordinal);
        try
        {
            foreach (var tensor in Manifest.Tensors)
            foreach (var tile in tensor.Tiles.OrderBy(t => t.File, StringComparer.Ordinal).ThenBy(t => t.ByteOffset))
            {
                cancel.ThrowIfCancellationRequested();
                var elements = (int)TileGeometry.Count(tile.Extent);
                var buffer = ArrayPool<float>.Shared.Rent(elements);
                try
                {
                    ReadVerified(Handle(files, tile.File), tensor, tile, buffer.AsSpan(0, elements));
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(buffer);
                }
            }
        }
        finally
        {
            foreach (var h in files.Values) h.Dispose();
        }
    }
}
