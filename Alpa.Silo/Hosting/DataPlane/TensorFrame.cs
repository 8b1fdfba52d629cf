using System.Buffers.Binary;
using Alpa.Planner;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Hosting.DataPlane;

/// <summary>Flags of a tensor frame.</summary>
[Flags]
public enum TensorFrameFlags : byte
{
    None = 0,
    /// <summary>A link-measurement frame: the receiver reads and discards the payload.</summary>
    Probe = 1,
}

/// <summary>
/// The small header before each tensor payload: transfer id, dtype, the tile's shape, its index
/// among the tiles of the transfer, and the payload length (must equal elements × dtype size).
/// </summary>
public sealed record TensorHeader(
    ulong TransferId, DType DType, TensorFrameFlags Flags, long[] Shape, int TileIndex, int TileCount, long PayloadBytes)
{
    /// <summary>Bytes of a payload of <paramref name="shape"/> in <paramref name="dtype"/>.</summary>
    public static long BytesOf(DType dtype, long[] shape) => checked(shape.Aggregate(1L, (a, d) => a * d) * dtype.Size());
}

/// <summary>
/// Wire format of the data plane (little-endian). A connection opens with a handshake:
/// <c>"ALPD"</c>, version byte, then <see cref="Alpa.Client.Transport.CallSignature.WriteHandshake"/>'s 56 bytes; the
/// receiver answers one status byte (0 accepted, 1 refused, then closes). Then frames:
/// <c>u32 "ATNF" · u16 header length · header · payload</c> where the header is
/// <c>u64 transfer id · u8 dtype · u8 flags · u8 rank (≤ 8) · i64 dims[rank] · i32 tile index ·
/// i32 tile count · u64 payload bytes</c>. After each payload the receiver answers
/// <c>u64 transfer id · u8 status</c> (0 = stored). Anything malformed closes the connection
/// before a single payload byte is allocated.
/// </summary>
public static class TensorFrame
{
    public const uint HandshakeMagic = 0x44504C41; // "ALPD"
    public const uint FrameMagic = 0x464E5441;     // "ATNF"
    public const byte Version = 1;
    public const int MaxRank = 8;
    /// <summary>Bytes before the header: magic and header length.</summary>
    public const int PrefixBytes = 6;
    public const int AckBytes = 9;

    public static int HeaderBytes(int rank) => 27 + (8 * rank);

    public static int MaxHeaderBytes => HeaderBytes(MaxRank);

    /// <summary>Writes prefix and header into <paramref name="destination"/>; returns the bytes written.</summary>
    public static int Write(TensorHeader header, Span<byte> destination)
    {
        var length = HeaderBytes(header.Shape.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(destination, FrameMagic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], (ushort)length);
        var h = destination.Slice(PrefixBytes, length);
        BinaryPrimitives.WriteUInt64LittleEndian(h, header.TransferId);
        h[8] = (byte)header.DType;
        h[9] = (byte)header.Flags;
        h[10] = (byte)header.Shape.Length;
        for (var i = 0; i < header.Shape.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(h[(11 + (8 * i))..], header.Shape[i]);
        }
        var tail = h[(11 + (8 * header.Shape.Length))..];
        BinaryPrimitives.WriteInt32LittleEndian(tail, header.TileIndex);
        BinaryPrimitives.WriteInt32LittleEndian(tail[4..], header.TileCount);
        BinaryPrimitives.WriteInt64LittleEndian(tail[8..], header.PayloadBytes);
        return PrefixBytes + length;
    }

    /// <summary>Checks a frame prefix; returns the header length that follows.</summary>
    public static int ParsePrefix(ReadOnlySpan<byte> prefix)
    {
        if (BinaryPrimitives.ReadUInt32LittleEndian(prefix) != FrameMagic)
        {
            throw new TensorFrameException("bad frame magic");
        }
        int length = BinaryPrimitives.ReadUInt16LittleEndian(prefix[4..]);
        if (length < HeaderBytes(0) || length > MaxHeaderBytes || (length - HeaderBytes(0)) % 8 != 0)
        {
            throw new TensorFrameException($"header length {length} is not 27 + 8 × rank with rank ≤ {MaxRank}");
        }
        return length;
    }

    /// <summary>Decodes and validates a header against <paramref name="maxTensorBytes"/>.</summary>
    public static TensorHeader ParseHeader(ReadOnlySpan<byte> h, long maxTensorBytes)
    {
        var rank = h[10];
        if (rank > MaxRank || h.Length != HeaderBytes(rank))
        {
            throw new TensorFrameException($"rank {rank} does not match header length {h.Length}");
        }
        var dtype = (DType)h[8];
        if (!Enum.IsDefined(dtype))
        {
            throw new TensorFrameException($"unknown dtype code {h[8]}");
        }
        var flags = (TensorFrameFlags)h[9];
        if ((flags & ~TensorFrameFlags.Probe) != 0)
        {
            throw new TensorFrameException($"unknown flags 0x{h[9]:x2}");
        }
        var shape = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            shape[i] = BinaryPrimitives.ReadInt64LittleEndian(h[(11 + (8 * i))..]);
            if (shape[i] < 0)
            {
                throw new TensorFrameException($"negative dimension {shape[i]}");
            }
        }
        var tail = h[(11 + (8 * rank))..];
        var tileIndex = BinaryPrimitives.ReadInt32LittleEndian(tail);
        var tileCount = BinaryPrimitives.ReadInt32LittleEndian(tail[4..]);
        var payload = BinaryPrimitives.ReadInt64LittleEndian(tail[8..]);
        if (tileCount < 1 || tileIndex < 0 || tileIndex >= tileCount)
        {
            throw new TensorFrameException($"tile {tileIndex} of {tileCount} is out of range");
        }
        long expected;
        try
        {
            expected = TensorHeader.BytesOf(dtype, shape);
        }
        catch (OverflowException)
        {
            throw new TensorFrameException("shape overflows 64 bits");
        }
        if (payload != expected || payload > maxTensorBytes)
        {
            throw new TensorFrameException($"payload of {payload} bytes does not match the shape ({expected} bytes) or exceeds the limit of {maxTensorBytes}");
        }
        return new TensorHeader(BinaryPrimitives.ReadUInt64LittleEndian(h), dtype, flags, shape, tileIndex, tileCount, payload);
    }
}

/// <summary>A data-plane peer sent something that is not a valid frame.</summary>
public sealed class TensorFrameException(string message) : AlpaException(message);

/// <summary>A tensor could not be sent or received (peer gone, refused, or protocol error).</summary>
public sealed class TensorTransferException : AlpaException
{
    public TensorTransferException(string message) : base(message) { }
    public TensorTransferException(string message, Exception inner) : base(message, inner) { }
}
