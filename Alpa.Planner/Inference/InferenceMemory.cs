using Alpa.Planner.Graph;
using Alpa.Planner.Models;

namespace Alpa.Planner.Inference;

/// <summary>A serving configuration whose key/value cache (and weights) do not fit the device memory; the message says what to change.</summary>
public sealed class InferenceMemoryException(string message) : AlpaException(message);

/// <summary>
/// Memory of a forward stage while serving: the key/value caches that <see cref="GptGeneration"/> keeps
/// per block — two tensors [slots, heads, M, head_dim] (K and V) with M = seq_len, split along heads over
/// the stage's devices when the heads divide evenly (the serving stages pin that split) — plus the
/// stage's weights, counted whole on every device (an upper bound: the intra-op plan may split them).
/// </summary>
public static class InferenceMemory
{
    /// <summary>How many ways a stage on <paramref name="devices"/> devices splits the heads (and so the caches).</summary>
    public static int HeadShards(GptSpec spec, int devices)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return devices > 1 && spec.Heads % devices == 0 ? devices : 1;
    }

    /// <summary>Transformer blocks among model layers [<paramref name="first"/>, <paramref name="last"/>] (layer 0 = embeddings, L + 1 = head).</summary>
    public static int Blocks(GptSpec spec, int first, int last)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Math.Max(0, Math.Min(last, spec.Layers) - Math.Max(first, 1) + 1);
    }

    /// <summary>
    /// Bytes of key/value cache one device of the stage holds:
    /// blocks × 2 (K, V) × slots × seq_len × hidden × dtype size / head shards.
    /// </summary>
    public static long KvCacheBytesPerDevice(GptSpec spec, int slots, int first, int last, int devices)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var whole = (long)Blocks(spec, first, last) * 2 * slots * spec.SeqLen * spec.Hidden * spec.DType.Size();
        return whole / HeadShards(spec, devices);
    }

    /// <summary>Bytes of the parameters of layers [<paramref name="first"/>, <paramref name="last"/>], whole.</summary>
    public static long WeightBytes(GptSpec spec, int first, int last)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var graph = GptGeneration.Build(spec, new GenerationShape { Slots = 1, Chunk = 1, FirstLayer = first, LastLayer = last });
        return graph.Parameters.Sum(p => p.Shape.Elements * (long)p.DType.Size());
    }

    /// <summary>Whether a stage fits: KV cache per device + whole weights ≤ <paramref name="deviceMemory"/>.</summary>
    public static bool Fits(GptSpec spec, int slots, InferenceStage stage, long deviceMemory)
    {
        ArgumentNullException.ThrowIfNull(stage);
        return KvCacheBytesPerDevice(spec, slots, stage.First, stage.Last, stage.Devices) + WeightBytes(spec, stage.First, stage.Last) <= deviceMemory;
    }

    /// <summary>Refuses, with what to change, the first stage whose cache and weights exceed <paramref name="deviceMemory"/>.</summary>
    public static void Check(GptSpec spec, int slots, IReadOnlyList<InferenceStage> stages, long deviceMemory)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(stages);
        foreach (var s in stages)
        {
            if (Fits(spec, slots, s, deviceMemory)) continue;
            var kv = KvCacheBytesPerDevice(spec, slots, s.First, s.Last, s.Devices);
            var weights = WeightBytes(spec, s.First, s.Last);
            var perSlot = Math.Max(1, kv / Math.Max(1, slots));
            var most = Math.Max(0, (deviceMemory - weights) / perSlot);
            throw new InferenceMemoryException(
                $"{spec.Name}: the stage of layers {s.First}-{s.Last} on {s.Devices} device(s) needs {Mib(kv)} of key/value cache per device " +
                $"({slots} slots × {spec.SeqLen} positions × {Blocks(spec, s.First, s.Last)} blocks × 2 (K, V) × hidden {spec.Hidden} × {spec.DType.Size()} B / {HeadShards(spec, s.Devices)} head shard(s)) " +
                $"+ {Mib(weights)} of weights, more than the {Mib(deviceMemory)} of device memory; " +
                $"lower --slots (at most {most} fit), shorten the model's seq_len, or serve on more devices or silos");
        }
    }

    private static string Mib(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MiB";
}
