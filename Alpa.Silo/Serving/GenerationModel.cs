using Alpa.Kernels;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;

namespace Alpa.Silo.Serving;

/// <summary>Tokens one slot feeds in a step: <see cref="Tokens"/> go to positions <see cref="Start"/>, Start + 1, ….</summary>
public sealed record SlotWork(int Slot, int Start, int[] Tokens);

/// <summary>Where the model runs: batch slots, prefill chunk and the forward stages (one device or one mesh each).</summary>
public sealed record GenerationLayout
{
    /// <summary>Sequences decoded together (continuous batching fills and frees them).</summary>
    public int Slots { get; init; } = 4;
    /// <summary>Prompt tokens a slot feeds per prefill step (longer prompts take several steps).</summary>
    public int PrefillChunk { get; init; } = 16;
    /// <summary>Stages in order: layer range and devices; devices &gt; 1 run as a (1, devices) mesh.</summary>
    public IReadOnlyList<(int First, int Last, int Devices)>? Stages { get; init; }
}

/// <summary>
/// A GPT ready to generate: its forward stages (prefill and decode programs each, sharing the key/value
/// caches) run one after the other for each step, the hidden state of one stage feeding the next on
/// the host. This is a deliberately small forward-only stage pipeline inside the serving code; the
/// pipeline branch's Driver / MeshWorker interpreter can take over behind <see cref="IStageProgram"/>.
/// </summary>
public sealed class GenerationModel : IGenerationModel
{
    private readonly List<IStageProgram> _stages = [];

    public GenerationModel(GptSpec spec, GenerationLayout layout, ulong seed, ClusterSpec? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(layout);
        if (spec.Vocab < ByteTokenizer.VocabSize)
            throw new ServingException($"model {spec.Name}: vocabulary {spec.Vocab} is smaller than the byte tokenizer's {ByteTokenizer.VocabSize}");
        Spec = spec;
        Slots = layout.Slots;
        Chunk = Math.Min(layout.PrefillChunk, spec.SeqLen);
        var stages = layout.Stages ?? [(0, spec.Layers + 1, 1)];
        try
        {
            foreach (var (first, last, devices) in stages)
                _stages.Add(StagePrograms.Create(spec, Slots, Chunk, (first, last), devices, seed, cluster));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public GptSpec Spec { get; }
    /// <summary>Batch slots of every program.</summary>
    public int Slots { get; }
    /// <summary>Prefill chunk T.</summary>
    public int Chunk { get; }
    /// <summary>Longest sequence (prompt + generated) a slot holds.</summary>
    public int Context => Spec.SeqLen;
    public IReadOnlyList<IStageProgram> Stages => _stages;
    public IReadOnlyList<string> StageDescriptions => [.. _stages.Select(s => s.Describe)];

    /// <summary>Loads weights by parameter name into the stages that hold them.</summary>
    public void Load(IReadOnlyDictionary<string, HostTensor> weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        foreach (var stage in _stages)
            foreach (var name in stage.Parameters)
                if (weights.TryGetValue(name, out var value)) stage.Load(name, value);
    }

    /// <summary>
    /// Runs one step: each work item writes its tokens into its slot's cache; returns, per item, the
    /// logits [V] after its last token. Prefill runs when any item brings more than one token.
    /// </summary>
    public float[][] Step(IReadOnlyList<SlotWork> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        var prefill = work.Any(w => w.Tokens.Length > 1);
        var t = prefill ? Chunk : 1;
        var inputs = StepInputs.Build(work, Slots, t, Context);
        IReadOnlyDictionary<string, HostTensor> outputs = inputs;
        foreach (var stage in _stages)
        {
            outputs = stage.Run(prefill, inputs);
            if (outputs.TryGetValue("hidden_out", out var hidden)) inputs["hidden"] = hidden;
        }
        return StagePrograms.LogitsRows(outputs, work, t, Spec.Vocab);
    }

    /// <summary>In-process stages do not fail on their own: a failure here is a bug, not a lost silo.</summary>
    public void Recover(StageFailedException failure, CancellationToken cancellationToken) =>
        throw new ServingException($"in-process stages cannot be re-planned: {failure?.Message}");

    internal static LogicalMesh MeshOf(ClusterSpec? cluster, int devices)
    {
        cluster ??= NominalCpu(devices);
        return LogicalMesh.AllShapes(cluster with { Hosts = 1, DevicesPerHost = devices }).First(m => m.N0 == 1 && m.N1 == devices);
    }

    /// <summary>A local CPU cluster with fixed nominal rates (tests; the CLI measures instead).</summary>
    public static ClusterSpec NominalCpu(int devices) =>
        BuiltInClusters.ForLocal(1, devices, 20e9, 5e9, 1e9, 1L << 30);

    public void Dispose()
    {
        foreach (var s in _stages) s.Dispose();
        _stages.Clear();
    }
}

/// <summary>Builds a step's inputs: tokens, positions, the cache write scatter, keep and attention mask.</summary>
internal static class StepInputs
{
    private const float Hidden = -1e9f;

    public static Dictionary<string, HostTensor> Build(IReadOnlyList<SlotWork> work, int slots, int t, int m)
    {
        var tokens = new int[slots * t];
        var positions = new int[slots * t];
        var write = new float[slots * m * t];
        var keep = new float[slots * m];
        var mask = new float[slots * t * m];
        Array.Fill(keep, 1f);
        Array.Fill(mask, Hidden);
        for (var b = 0; b < slots; b++)
            for (var i = 0; i < t; i++) mask[((b * t) + i) * m] = 0;   // idle rows see key 0: no empty softmax
        foreach (var w in work)
        {
            if (w.Tokens.Length > t || w.Start + w.Tokens.Length > m || w.Slot < 0 || w.Slot >= slots)
                throw new ServingException($"slot {w.Slot}: {w.Tokens.Length} token(s) at {w.Start} do not fit a step of {t} in a context of {m}");
            for (var i = 0; i < t; i++)
            {
                var pos = Math.Min(w.Start + i, m - 1);
                var valid = i < w.Tokens.Length;
                tokens[(w.Slot * t) + i] = valid ? w.Tokens[i] : 0;
                positions[(w.Slot * t) + i] = pos;
                if (valid)
                {
                    write[(((w.Slot * m) + pos) * t) + i] = 1;
                    keep[(w.Slot * m) + pos] = 0;
                }
                for (var j = 0; j <= pos; j++) mask[(((w.Slot * t) + i) * m) + j] = 0;
            }
        }
        return new Dictionary<string, HostTensor>(StringComparer.Ordinal)
        {
            ["tokens"] = HostTensor.FromInts(tokens, slots, t),
            ["positions"] = HostTensor.FromInts(positions, slots, t),
            ["write"] = HostTensor.FromFloats(write, slots, 1, m, t),
            ["keep"] = HostTensor.FromFloats(keep, slots, 1, m, 1),
            ["mask"] = HostTensor.FromFloats(mask, slots, 1, t, m),
        };
    }
}

/// <summary>A generation request or model that cannot be served as given; the message says what to change.</summary>
public sealed class ServingException(string message) : Planner.AlpaException(message);
