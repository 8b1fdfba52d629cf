namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// The built-in models: every size of the Alpa paper's evaluation (GPT-3, GShard MoE and
/// Wide-ResNet, paper Tables 4 and 6–8) with the paper's global batch, sequence length, vocabulary
/// and dtype, plus small runnable ones (<c>gpt-tiny</c>, <c>moe-tiny</c>, <c>wresnet-tiny</c>, <c>mlp</c>).
/// </summary>
public static class ModelZoo
{
    // GPT-3 family as benchmarked by Alpa: s = 1024, V = 51200, global batch 1024, fp16.
    private const int GptSeq = 1024, GptVocab = 51200, GptBatch = 1024;
    // GShard MoE: s = 1024, V = 32000, global batch 1024, fp16, expert group size 2048.
    private const int MoeSeq = 1024, MoeVocab = 32000, MoeBatch = 1024, MoeGroup = 2048;
    // Wide-ResNet: 224×224×3 images, 1024 classes, global batch 1536, fp32.
    private const int WrnImage = 224, WrnClasses = 1024, WrnBatch = 1536;

    private static readonly Lazy<IReadOnlyDictionary<string, ModelSpec>> All = new(Create);

    /// <summary>Every built-in name, in a stable order (families, then increasing size).</summary>
    public static IReadOnlyList<string> Names => [.. All.Value.Keys];

    /// <summary>The built-in model <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ModelSpecException">No such model; the message lists the known names.</exception>
    public static ModelSpec Get(string name)
    {
        if (All.Value.TryGetValue(name.Trim(), out var spec)) return spec;
        throw new ModelSpecException($"unknown model '{name}'; built-in models: {string.Join(", ", Names)} (or give a JSON model file)")
        { Field = "model" };
    }

    public static bool TryGet(string name, out ModelSpec spec) => All.Value.TryGetValue(name.Trim(), out spec!);

    /// <summary>
    /// A built-in name, or the text of a JSON model or graph file (text starting with <c>{</c>).
    /// Reading files is the caller's business: the planner does no I/O.
    /// </summary>
    public static ModelSpec Resolve(string nameOrJson) =>
        nameOrJson.TrimStart().StartsWith('{') ? ModelSpecJson.Parse(nameOrJson) : Get(nameOrJson);

    private static Dictionary<string, ModelSpec> Create()
    {
        var d = new Dictionary<string, ModelSpec>(StringComparer.OrdinalIgnoreCase);
        void Add(ModelSpec s) => d.Add(s.Name, s);

        foreach (var (name, h, l, heads) in new[]
        {
            ("gpt-125m", 768, 12, 12), ("gpt-350m", 1024, 24, 16), ("gpt-760m", 1536, 24, 16),
            ("gpt-1.3b", 2048, 24, 32), ("gpt-2.6b", 2560, 32, 32), ("gpt-6.7b", 4096, 32, 32),
            ("gpt-15b", 5120, 48, 40), ("gpt-39b", 8192, 48, 64), ("gpt-76b", 10240, 60, 80),
        })
            Add(new GptSpec { Name = name, Batch = GptBatch, DType = DType.F16, Layers = l, Hidden = h, Heads = heads, SeqLen = GptSeq, Vocab = GptVocab });
        Add(new GptSpec { Name = "gpt-tiny", Batch = 16, DType = DType.F32, Layers = 4, Hidden = 64, Heads = 4, SeqLen = 32, Vocab = 256 });

        foreach (var (name, h, l, heads, e) in new[]
        {
            ("moe-380m", 768, 8, 16, 8), ("moe-690m", 768, 8, 16, 16), ("moe-1.3b", 768, 16, 16, 16),
            ("moe-2.4b", 1024, 16, 16, 16), ("moe-10b", 1536, 16, 16, 32), ("moe-27b", 2048, 16, 16, 48),
            ("moe-70b", 2048, 32, 16, 64),
        })
            Add(new MoeSpec { Name = name, Batch = MoeBatch, DType = DType.F16, Layers = l, Hidden = h, Heads = heads, SeqLen = MoeSeq, Vocab = MoeVocab, Experts = e, ExpertGroupSize = MoeGroup });
        Add(new MoeSpec { Name = "moe-tiny", Batch = 16, DType = DType.F32, Layers = 4, Hidden = 64, Heads = 4, SeqLen = 32, Vocab = 256, Experts = 4, ExpertGroupSize = 64 });

        foreach (var (name, depth, baseChannels, width) in new[]
        {
            ("wresnet-250m", 50, 160, 2), ("wresnet-500m", 50, 224, 2), ("wresnet-1b", 50, 320, 2),
            ("wresnet-2b", 50, 448, 2), ("wresnet-4b", 50, 640, 2), ("wresnet-6.8b", 50, 320, 16),
            ("wresnet-13b", 101, 320, 16),
        })
            Add(new WResNetSpec { Name = name, Batch = WrnBatch, DType = DType.F32, Stages = WResNetSpec.StagesForDepth(depth)!, BaseChannels = baseChannels, WidthFactor = width, ImageSize = WrnImage, Classes = WrnClasses });
        Add(new WResNetSpec { Name = "wresnet-tiny", Batch = 16, DType = DType.F32, Stages = [1, 1], BaseChannels = 8, WidthFactor = 2, ImageSize = 16, Classes = 10 });

        Add(new MlpSpec { Name = "mlp", Batch = 32, DType = DType.F32, Layers = 4, Hidden = 64, Ffn = 256 });
        return d;
    }
}
