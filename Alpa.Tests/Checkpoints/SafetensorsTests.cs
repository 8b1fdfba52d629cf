using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Alpa.Kernels;
using Alpa.Silo.Checkpoints;

namespace Alpa.Tests.Checkpoints;

/// <summary>The safetensors format byte for byte, and round trips through it.</summary>
public sealed class SafetensorsTests
{
    [Fact]
    public void WrittenFilesFollowTheFormat()
    {
        using var f = new CheckpointFixture();
        var path = Path.Combine(f.Directory, "m.safetensors");
        Safetensors.Write(path, [
            new SafeTensor("a", "F32", HostTensor.FromFloats([1f, 2f, 3f, 4f, 5f, 6f], 2, 3)),
            new SafeTensor("b", "BF16", HostTensor.FromFloats(ElementType.BF16, [1.5f, -2f], 2)),
        ], new Dictionary<string, string> { ["format"] = "pt" });
        var bytes = File.ReadAllBytes(path);
        var n = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        Assert.Equal(8 + n + 24 + 4, bytes.Length);
        var header = Encoding.UTF8.GetString(bytes, 8, n);
        Assert.StartsWith("{", header, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(header.TrimEnd(' '));
        Assert.Equal("pt", doc.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        var a = doc.RootElement.GetProperty("a");
        Assert.Equal("F32", a.GetProperty("dtype").GetString());
        Assert.Equal([2L, 3], a.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal([0L, 24], a.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal([24L, 28], doc.RootElement.GetProperty("b").GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal(1f, BitConverter.ToSingle(bytes, 8 + n));
        Assert.Equal((ushort)0x3FC0, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8 + n + 24))); // bf16 1.5
        Assert.Equal((ushort)0xC000, BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8 + n + 26))); // bf16 -2
    }

    [Fact]
    public void ReadsAFileBuiltByHandAndRoundTripsEveryDtype()
    {
        using var f = new CheckpointFixture();
        // The smallest file another tool would write: header without padding, one F16 tensor [2].
        var header = "{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"__metadata__\":{\"k\":\"v\"}}"u8.ToArray();
        var file = new byte[8 + header.Length + 4];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(8 + header.Length), BitConverter.HalfToUInt16Bits((Half)0.5f));
        BinaryPrimitives.WriteUInt16LittleEndian(file.AsSpan(8 + header.Length + 2), BitConverter.HalfToUInt16Bits((Half)(-3f)));
        var hand = Path.Combine(f.Directory, "hand.safetensors");
        File.WriteAllBytes(hand, file);
        var (tensors, metadata) = Safetensors.Read(hand);
        Assert.Equal("v", metadata["k"]);
        Assert.Equal([0.5f, -3f], tensors.Single().Value.Floats!);

        var all = new List<SafeTensor>
        {
            new("f32", "F32", HostTensor.FromFloats([0.1f, -7f, 1e-30f], 3)),
            new("f16", "F16", HostTensor.FromFloats(ElementType.F16, [0.25f, 1024f], 1, 2)),
            new("bf16", "BF16", HostTensor.FromFloats(ElementType.BF16, [3f, -0.5f, 65536f], 3, 1)),
            new("i32", "I32", HostTensor.FromInts([1, -2, int.MaxValue, 4], 2, 2)),
        };
        var path = Path.Combine(f.Directory, "all.safetensors");
        Safetensors.Write(path, all, new Dictionary<string, string>());
        var back = Safetensors.Read(path).Tensors;
        foreach (var (x, y) in all.Zip(back))
        {
            Assert.Equal((x.Name, x.Dtype, x.Value.Type), (y.Name, y.Dtype, y.Value.Type));
            Assert.Equal(x.Value.Shape, y.Value.Shape);
            Assert.Equal(x.Value.Floats, y.Value.Floats);
            Assert.Equal(x.Value.Ints, y.Value.Ints);
        }
    }

    [Fact]
    public void MalformedFilesAreClearErrors()
    {
        using var f = new CheckpointFixture();
        var path = Path.Combine(f.Directory, "bad.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Contains("fewer than the 8-byte header length", Assert.Throws<CheckpointException>(() => Safetensors.Read(path)).Message, StringComparison.Ordinal);
        Safetensors.Write(path, [new SafeTensor("a", "F32", HostTensor.FromFloats([1f, 2f], 2))], new Dictionary<string, string>());
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^4]);
        Assert.Contains("outside the 4-byte buffer", Assert.Throws<CheckpointException>(() => Safetensors.Read(path)).Message, StringComparison.Ordinal);
        File.WriteAllBytes(path, [.. bytes, 0, 0, 0, 0]);
        Assert.Contains("end at byte 8 of a 12-byte buffer", Assert.Throws<CheckpointException>(() => Safetensors.Read(path)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BFloat16RoundsToNearestEven()
    {
        Assert.Equal((ushort)0x3F80, Safetensors.ToBFloat16(1f));
        Assert.Equal((ushort)0x3F80, Safetensors.ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal((ushort)0x3F82, Safetensors.ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.Equal((ushort)0x3F81, Safetensors.ToBFloat16(BitConverter.UInt32BitsToSingle(0x3F808001)));
    }
}
