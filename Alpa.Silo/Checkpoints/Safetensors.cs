using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Alpa.Kernels;

namespace Alpa.Silo.Checkpoints;

/// <summary>One tensor of a safetensors file.</summary>
/// <param name="Name">Tensor name.</param>
/// <param name="Dtype">Safetensors dtype: <c>F32</c>, <c>F16</c>, <c>BF16</c> or <c>I32</c> (the ones this runtime holds).</param>
/// <param name="Value">Values (half types widened to f32).</param>
public sealed record SafeTensor(string Name, string Dtype, HostTensor Value);

/// <summary>
/// The safetensors format (huggingface/safetensors): an 8-byte little-endian header length N, then N
/// bytes of UTF-8 JSON mapping each tensor name to <c>{"dtype", "shape", "data_offsets": [begin, end]}</c>
/// (offsets relative to the byte buffer after the header) plus an optional <c>__metadata__</c>
/// string map, padded with spaces to a multiple of 8; then the tensors' bytes, row-major,
/// little-endian, contiguous and without gaps.
/// </summary>
public static class Safetensors
{
    private const string MetadataKey = "__metadata__";

    /// <summary>Writes the tensors in the given order with the metadata.</summary>
    public static void Write(string path, IReadOnlyList<SafeTensor> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        ArgumentNullException.ThrowIfNull(metadata);
        var payloads = tensors.Select(t => Encode(t)).ToList();
        var header = Header(tensors, payloads, metadata);
        var padded = (header.Length + 7) / 8 * 8;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(header);
        for (var i = header.Length; i < padded; i++) stream.WriteByte((byte)' ');
        foreach (var p in payloads) stream.Write(p);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Reads every tensor and the metadata; throws <see cref="CheckpointException"/> naming what is malformed.</summary>
    public static (IReadOnlyList<SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata) Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 8) throw Malformed(path, $"it has {bytes.Length} bytes, fewer than the 8-byte header length");
        var n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (n > (ulong)(bytes.Length - 8)) throw Malformed(path, $"the header length {n} runs past the end of the file ({bytes.Length} bytes)");
        var buffer = bytes.AsMemory(8 + (int)n);
        try
        {
            using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Malformed(path, "the header is not a JSON object");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var tensors = new List<(long Begin, SafeTensor Tensor, long End)>();
            foreach (var entry in doc.RootElement.EnumerateObject())
            {
                if (entry.Name == MetadataKey)
                {
                    foreach (var m in entry.Value.EnumerateObject()) metadata[m.Name] = m.Value.GetString() ?? "";
                    continue;
                }
                tensors.Add(Decode(path, entry, buffer.Span));
            }
            CheckContiguous(path, tensors.Select(t => (t.Begin, t.End, t.Tensor.Name)), buffer.Length);
            return ([.. tensors.Select(t => t.Tensor)], metadata);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw Malformed(path, e.Message);
        }
    }

    private static byte[] Header(IReadOnlyList<SafeTensor> tensors, List<byte[]> payloads, IReadOnlyDictionary<string, string> metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject(MetadataKey);
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long offset = 0;
            for (var i = 0; i < tensors.Count; i++)
            {
                w.WriteStartObject(tensors[i].Name);
                w.WriteString("dtype", tensors[i].Dtype);
                w.WriteStartArray("shape");
                foreach (var d in tensors[i].Value.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                w.WriteNumberValue(offset += payloads[i].Length);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    private static (long Begin, SafeTensor Tensor, long End) Decode(string path, JsonProperty entry, ReadOnlySpan<byte> buffer)
    {
        var dtype = entry.Value.GetProperty("dtype").GetString() ?? "";
        var shape = entry.Value.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        var offsets = entry.Value.GetProperty("data_offsets").EnumerateArray().Select(d => d.GetInt64()).ToArray();
        if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > buffer.Length)
            throw Malformed(path, $"tensor '{entry.Name}' has data_offsets [{string.Join(", ", offsets)}] outside the {buffer.Length}-byte buffer");
        var size = ElementSize(path, entry.Name, dtype);
        var elements = TileGeometry.Count(shape);
        if (offsets[1] - offsets[0] != elements * size)
            throw Malformed(path, $"tensor '{entry.Name}' {dtype}[{string.Join(", ", shape)}] needs {elements * size} bytes, its offsets span {offsets[1] - offsets[0]}");
        var data = buffer[(int)offsets[0]..(int)offsets[1]];
        var value = dtype switch
        {
            "F32" => HostTensor.FromFloats(MemoryMarshal.Cast<byte, float>(data).ToArray(), shape),
            "I32" => HostTensor.FromInts(MemoryMarshal.Cast<byte, int>(data).ToArray(), shape),
            "F16" => HostTensor.FromFloats(ElementType.F16, Widen(data, b => (float)BitConverter.UInt16BitsToHalf(b)), shape),
            _ => HostTensor.FromFloats(ElementType.BF16, Widen(data, b => BitConverter.Int32BitsToSingle(b << 16)), shape),
        };
        return (offsets[0], new SafeTensor(entry.Name, dtype, value), offsets[1]);
    }

    private static float[] Widen(ReadOnlySpan<byte> data, Func<ushort, float> convert)
    {
        var halves = MemoryMarshal.Cast<byte, ushort>(data);
        var result = new float[halves.Length];
        for (var i = 0; i < result.Length; i++) result[i] = convert(halves[i]);
        return result;
    }

    private static byte[] Encode(SafeTensor t)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors are written on little-endian hosts");
        switch (t.Dtype)
        {
            case "F32" or "I32":
                return ShardFileWriter.Bytes(t.Value).ToArray();
            case "F16" or "BF16":
                var f = t.Value.Floats ?? throw new CheckpointException($"'{t.Name}' is an integer tensor; it cannot be stored as {t.Dtype}");
                var halves = new ushort[f.Length];
                for (var i = 0; i < f.Length; i++) halves[i] = t.Dtype == "F16" ? BitConverter.HalfToUInt16Bits((Half)f[i]) : ToBFloat16(f[i]);
                return MemoryMarshal.AsBytes(halves.AsSpan()).ToArray();
            default:
                throw new CheckpointException($"'{t.Name}': dtype {t.Dtype} is not one this runtime holds (F32, F16, BF16, I32)");
        }
    }

    /// <summary>bfloat16 bits of <paramref name="x"/>, rounded to nearest even (NaN stays NaN).</summary>
    public static ushort ToBFloat16(float x)
    {
        var bits = BitConverter.SingleToUInt32Bits(x);
        if (float.IsNaN(x)) return (ushort)((bits >> 16) | 0x40);
        var rounding = 0x7FFFu + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>The safetensors dtype of a runtime element type.</summary>
    public static string DtypeOf(ElementType type) => type switch
    {
        ElementType.F16 => "F16",
        ElementType.BF16 => "BF16",
        ElementType.I32 => "I32",
        _ => "F32",
    };

    private static int ElementSize(string path, string name, string dtype) => dtype switch
    {
        "F32" or "I32" => 4,
        "F16" or "BF16" => 2,
        _ => throw Malformed(path, $"tensor '{name}' has dtype {dtype}; this runtime reads F32, F16, BF16 and I32"),
    };

    /// <summary>The buffer must be exactly the tensors' bytes, back to back (as the reference reader checks).</summary>
    private static void CheckContiguous(string path, IEnumerable<(long Begin, long End, string Name)> spans, int bufferLength)
    {
        long at = 0;
        foreach (var (begin, end, name) in spans.OrderBy(s => s.Begin).ThenBy(s => s.End))
        {
            if (begin != at) throw Malformed(path, $"tensor '{name}' starts at byte {begin}, expected {at} (gap or overlap)");
            at = end;
        }
        if (at != bufferLength) throw Malformed(path, $"the tensors end at byte {at} of a {bufferLength}-byte buffer");
    }

    private static CheckpointException Malformed(string path, string why) => new($"{path} is not a valid safetensors file: {why}");
}
