using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using Alpa.Kernels;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// The worker side of a save: writes the distinct blocks one rank owns into one file
/// (<c>rank-NNNNN.bin</c>), hashes each block, syncs the file, and returns the manifest entries.
/// A MeshWorker on a silo runs exactly this for its ranks; the driver then commits the manifest.
/// </summary>
public static class ShardFileWriter
{
    /// <summary>File name of a rank's shard file (<paramref name="prefix"/> tells writers of one checkpoint apart, e.g. <c>stage-001-</c>).</summary>
    public static string FileName(int rank, string prefix = "") => $"{prefix}rank-{rank:D5}.bin";

    /// <summary>The blocks <paramref name="rank"/> must write: every tensor's distinct tile whose lowest holder it is.</summary>
    public static IEnumerable<(SnapshotTensor Tensor, Box Tile)> Owned(IEnumerable<SnapshotTensor> tensors, int rank) =>
        tensors.SelectMany(t => TileGeometry.UniqueTiles(t.Layout).Where(u => u.Rank == rank).Select(u => (t, u.Tile)));

    /// <summary>Writes rank <paramref name="rank"/>'s file into <paramref name="directory"/>; returns tensor name → tile entries.</summary>
    public static (List<(string Tensor, TileEntry Tile)> Tiles, ShardFileEntry File) Write(
        string directory, int rank, IEnumerable<SnapshotTensor> tensors, string prefix = "", CancellationToken cancel = default)
    {
        var name = FileName(rank, prefix);
        var tiles = new List<(string, TileEntry)>();
        long offset = 0;
        using (var stream = new FileStream(Path.Combine(directory, name), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            foreach (var (tensor, tile) in Owned(tensors, rank))
            {
                cancel.ThrowIfCancellationRequested();
                var shard = tensor.Shards[rank] ?? throw new CheckpointException($"rank {rank} owns a block of '{tensor.Name}' but its shard was not captured");
                var bytes = Bytes(shard);
                if (bytes.Length != tile.Elements * 4)
                    throw new CheckpointException($"'{tensor.Name}' shard of rank {rank} has {shard.Elements} elements, its block {tile} needs {tile.Elements}");
                stream.Write(bytes);
                tiles.Add((tensor.Name, new TileEntry
                {
                    Rank = rank, Offset = tile.Offset, Extent = tile.Extent, File = name,
                    ByteOffset = offset, ByteLength = bytes.Length, Xxh3 = Hash(bytes),
                }));
                offset += bytes.Length;
            }
            stream.Flush(flushToDisk: true);
        }
        return (tiles, new ShardFileEntry(name, offset));
    }

    /// <summary>The stored bytes of a host tensor: 4-byte little-endian f32 or i32 elements, row-major.</summary>
    public static ReadOnlySpan<byte> Bytes(HostTensor t)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("checkpoints are written on little-endian hosts");
        return t.Floats is { } f ? MemoryMarshal.AsBytes(f.AsSpan()) : MemoryMarshal.AsBytes(t.Ints!.AsSpan());
    }

    /// <summary>XxHash3 of the bytes as 16 hex digits.</summary>
    public static string Hash(ReadOnlySpan<byte> bytes)
    {
        Span<byte> h = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(h, XxHash3.HashToUInt64(bytes));
        return Convert.ToHexStringLower(h);
    }
}
