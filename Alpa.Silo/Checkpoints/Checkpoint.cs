using System.Runtime.InteropServices;
using Alpa.Kernels;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// One committed, verified checkpoint: every block was read and matched its checksum when opened.
/// Tensors are read under any destination layout (<see cref="ReadShard"/>): each destination
/// block is assembled from the stored blocks that overlap it, whatever plan and mesh saved them.
/// </summary>
public sealed class Checkpoint
{
    private readonly Dictionary<string, TensorEntry> _tensors;
    private readonly Dictionary<(string Tensor, int Tile), Array> _blocks = [];

    private Checkpoint(string path, CheckpointManifest manifest)
    {
        Path = path;
        Manifest = manifest;
        _tensors = manifest.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    public string Path { get; }
    public CheckpointManifest Manifest { get; }
    public long Step => Manifest.Step;

    /// <summary>Opens a step directory and verifies every block (size and XxHash3).</summary>
    public static Checkpoint Open(string stepDirectory, CancellationToken cancel = default)
    {
        var checkpoint = new Checkpoint(stepDirectory, CheckpointStore.ReadManifest(stepDirectory));
        foreach (var file in checkpoint.Manifest.Files)
        {
            var info = new FileInfo(System.IO.Path.Combine(stepDirectory, file.Name));
            if (!info.Exists) throw new CheckpointException($"shard file {file.Name} is missing");
            if (info.Length != file.Bytes) throw new CheckpointException($"shard file {file.Name} has {info.Length} bytes, the manifest says {file.Bytes} (truncated?)");
        }
        var tiles = checkpoint.Manifest.Tensors.SelectMany(t => t.Tiles.Select((tile, i) => (Tensor: t, Tile: tile, Index: i)));
        foreach (var file in tiles.GroupBy(x => x.Tile.File, StringComparer.Ordinal))
        {
            using var stream = new FileStream(System.IO.Path.Combine(stepDirectory, file.Key), FileMode.Open, FileAccess.Read, FileShare.Read, 1);
            foreach (var (tensor, tile, i) in file.OrderBy(x => x.Tile.ByteOffset))
            {
                cancel.ThrowIfCancellationRequested();
                checkpoint._blocks[(tensor.Name, i)] = ElementTypeOf(tensor.Dtype) == ElementType.I32
                    ? ReadBlock<int>(stream, tensor, tile)
                    : ReadBlock<float>(stream, tensor, tile);
            }
        }
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
        var e = Entry(name);
        if (!e.Shape.AsSpan().SequenceEqual(destination.Shape))
            throw new CheckpointException($"'{name}' is [{string.Join(", ", e.Shape)}] in the checkpoint, the model wants [{string.Join(", ", destination.Shape)}]");
        var box = TileGeometry.TileOf(destination, rank);
        var type = ElementTypeOf(e.Dtype);
        var sources = e.Tiles.Select((t, i) => (Tile: new Box(t.Offset, t.Extent), Data: _blocks[(name, i)]));
        if (type == ElementType.I32)
        {
            var ints = GC.AllocateUninitializedArray<int>((int)box.Elements);
            TileGeometry.Assemble(box, ints, sources.Select(s => (s.Tile, (int[])s.Data)));
            return HostTensor.FromInts(ints, box.Extent);
        }
        var floats = GC.AllocateUninitializedArray<float>((int)box.Elements);
        TileGeometry.Assemble(box, floats, sources.Select(s => (s.Tile, (float[])s.Data)));
        return HostTensor.FromFloats(type, floats, box.Extent);
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

    /// <summary>Reads one block straight into its typed array and checks its hash.</summary>
    private static T[] ReadBlock<T>(FileStream stream, TensorEntry tensor, TileEntry tile) where T : unmanaged
    {
        var elements = TileGeometry.Count(tile.Extent);
        if (tile.ByteLength != elements * 4)
            throw new CheckpointException($"'{tensor.Name}' block {new Box(tile.Offset, tile.Extent)} claims {tile.ByteLength} bytes, its shape needs {elements * 4}");
        var data = GC.AllocateUninitializedArray<T>((int)elements);
        var bytes = MemoryMarshal.AsBytes(data.AsSpan());
        stream.Position = tile.ByteOffset;
        stream.ReadExactly(bytes);
        var hash = ShardFileWriter.Hash(bytes);
        if (hash != tile.Xxh3)
            throw new CheckpointException($"'{tensor.Name}' block {new Box(tile.Offset, tile.Extent)} in {tile.File} has checksum {hash}, the manifest says {tile.Xxh3} (corrupt)");
        return data;
    }
}
