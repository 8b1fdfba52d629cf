using System.Text.Json;

namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// Model files (docs/models.md): a family with its size fields, e.g.
/// <c>{"family":"mlp","hidden":64,"ffn":256,"layers":4,"batch":32}</c>, a built-in model with
/// overrides (<c>{"base":"gpt-1.3b","batch":64}</c>), or a whole graph file
/// (<c>{"format":"alpa-graph",…}</c>, see <see cref="GraphJson"/>). Errors name the field.
/// </summary>
public static class ModelSpecJson
{
    private static readonly string[] Common = ["family", "base", "name", "batch", "dtype"];

    /// <summary>Parses a model or graph file's text.</summary>
    /// <exception cref="ModelSpecException">Malformed JSON, unknown family or field, or a bad value; the message names the field.</exception>
    public static ModelSpec Parse(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return Parse(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new ModelSpecException($"malformed JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {GraphJson.FirstLine(e.Message)}", e);
        }
    }

    public static ModelSpec Parse(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw Fields.Err("model", "expected a JSON object");
        if (root.TryGetProperty("format", out _))
        {
            var graph = GraphJson.Read(root);
            var name = root.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : "graph";
            return GraphSpec.Of(graph, name);
        }
        var f = new Fields(root);
        var spec = f.Has("base") ? FromBase(f) : FromFamily(f);
        f.CheckAllUsed(spec.Family, f.Has("base"));
        spec.Validate();
        return spec;
    }

    private static ModelSpec FromFamily(Fields f)
    {
        var family = f.String("family") ?? throw Fields.Err("family", "is missing; expected gpt, moe, wresnet or mlp (or \"base\": a built-in name)");
        var name = f.String("name") ?? $"custom-{family}";
        var batch = f.Int("batch") ?? throw Fields.Err("batch", "is missing; expected a positive integer (the global batch)");
        var dtype = f.DType("dtype") ?? DType.F32;
        return family.ToLowerInvariant() switch
        {
            "gpt" => new GptSpec
            {
                Name = name, Batch = batch, DType = dtype, Layers = f.Req("layers"), Hidden = f.Req("hidden"), Heads = f.Req("heads"),
                SeqLen = f.Req("seq_len"), Vocab = f.Req("vocab"), MlpFactor = f.Int("mlp_factor") ?? 4,
            },
            "moe" => new MoeSpec
            {
                Name = name, Batch = batch, DType = dtype, Layers = f.Req("layers"), Hidden = f.Req("hidden"), Heads = f.Req("heads"),
                SeqLen = f.Req("seq_len"), Vocab = f.Req("vocab"), Experts = f.Req("experts"),
                ExpertGroupSize = f.Int("expert_group_size") ?? 2048, MlpFactor = f.Int("mlp_factor") ?? 8,
            },
            "wresnet" => new WResNetSpec
            {
                Name = name, Batch = batch, DType = dtype, Stages = Stages(f), BaseChannels = f.Req("base_channels"),
                WidthFactor = f.Req("width_factor"), ImageSize = f.Int("image_size") ?? 224, Classes = f.Int("classes") ?? 1024,
                Channels = f.Int("channels") ?? 3,
            },
            "mlp" => new MlpSpec
            {
                Name = name, Batch = batch, DType = dtype, Layers = f.Req("layers"), Hidden = f.Req("hidden"), Ffn = f.Req("ffn"),
                Classes = f.Int("classes") ?? 10,
            },
            _ => throw Fields.Err("family", $"unknown family '{family}'; expected gpt, moe, wresnet or mlp"),
        };
    }

    /// <summary><c>{"base": built-in name, …overrides}</c>: the common fields may be overridden.</summary>
    private static ModelSpec FromBase(Fields f)
    {
        var baseName = f.String("base")!;
        if (!ModelZoo.TryGet(baseName, out var spec))
            throw Fields.Err("base", $"unknown model '{baseName}'; built-in models: {string.Join(", ", ModelZoo.Names)}");
        if (f.String("family") is { } fam && !fam.Equals(spec.Family, StringComparison.OrdinalIgnoreCase))
            throw Fields.Err("family", $"'{fam}' contradicts base '{baseName}', a {spec.Family} model");
        return spec with
        {
            Name = f.String("name") ?? spec.Name,
            Batch = f.Int("batch") ?? spec.Batch,
            DType = f.DType("dtype") ?? spec.DType,
        };
    }

    private static IReadOnlyList<int> Stages(Fields f)
    {
        if (f.Has("stages")) return f.IntArray("stages");
        var depth = f.Int("layers") ?? throw Fields.Err("layers", "is missing; expected 50 or 101 (or give \"stages\")");
        return WResNetSpec.StagesForDepth(depth) ?? throw Fields.Err("layers", $"expected 50, 101, 152 or 200, got {depth} (or give \"stages\")");
    }

    /// <summary>The fields of one JSON object, remembering which were read so that typos are reported.</summary>
    private sealed class Fields(JsonElement obj)
    {
        private readonly HashSet<string> _used = [];

        public bool Has(string key) => obj.TryGetProperty(key, out _);

        public string? String(string key)
        {
            if (!Get(key, out var v)) return null;
            return v.ValueKind == JsonValueKind.String ? v.GetString() : throw Err(key, $"expected a string, got {Show(v)}");
        }

        public int? Int(string key)
        {
            if (!Get(key, out var v)) return null;
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var x) && x > 0
                ? x : throw Err(key, $"expected a positive integer, got {Show(v)}");
        }

        public int Req(string key) => Int(key) ?? throw Err(key, "is missing; expected a positive integer");

        public DType? DType(string key)
        {
            if (!Get(key, out var v)) return null;
            return v.ValueKind == JsonValueKind.String && DTypeExtensions.TryParse(v.GetString(), out var d) && d.IsFloat()
                ? d : throw Err(key, $"expected f32, f16 or bf16, got {Show(v)}");
        }

        public int[] IntArray(string key)
        {
            Get(key, out var v);
            if (v.ValueKind != JsonValueKind.Array) throw Err(key, $"expected an array of positive integers, got {Show(v)}");
            return [.. v.EnumerateArray().Select((x, i) => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out var n) && n > 0
                ? n : throw Err($"{key}[{i}]", $"expected a positive integer, got {Show(x)}"))];
        }

        public void CheckAllUsed(string family, bool fromBase)
        {
            foreach (var p in obj.EnumerateObject())
                if (!_used.Contains(p.Name) && !Common.Contains(p.Name))
                    throw Err(p.Name, fromBase
                        ? "only name, batch and dtype can override a \"base\" model; give the full \"family\" spec to change sizes"
                        : $"unknown field for a {family} model");
        }

        private bool Get(string key, out JsonElement v)
        {
            _used.Add(key);
            return obj.TryGetProperty(key, out v) && v.ValueKind != JsonValueKind.Null;
        }

        private static string Show(JsonElement v) => v.ValueKind switch
        {
            JsonValueKind.String => $"\"{v.GetString()}\"",
            JsonValueKind.Object => "an object",
            JsonValueKind.Array => "an array",
            _ => v.GetRawText(),
        };

        public static ModelSpecException Err(string field, string what) => new($"{field}: {what}") { Field = field };
    }
}
