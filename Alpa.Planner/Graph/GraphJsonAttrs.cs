using System.Text.Json;

namespace Alpa.Planner.Graph;

/// <summary>
/// <see cref="OpAttrs"/> in graph files: an object holding only the attributes that differ from
/// their defaults, keys in snake case (<c>trans_b</c>, <c>keep_dims</c>, <c>weight_decay</c>).
/// Non-finite numbers are written as the strings <c>"inf"</c>, <c>"-inf"</c>, <c>"nan"</c>.
/// </summary>
internal static class GraphJsonAttrs
{
    private static readonly OpAttrs D = OpAttrs.None;

    public static readonly IReadOnlyList<string> Keys =
    [
        "trans_a", "trans_b", "axis", "axes", "keep_dims", "start", "end", "shape", "value", "epsilon", "to",
        "stride", "padding", "kernel", "capacity", "mask", "beta", "beta2", "square", "weight_decay", "momentum", "init",
    ];

    public static void Write(Utf8JsonWriter w, OpAttrs a)
    {
        w.WriteStartObject();
        if (a.TransA) w.WriteBoolean("trans_a", true);
        if (a.TransB) w.WriteBoolean("trans_b", true);
        if (a.Axis != D.Axis) w.WriteNumber("axis", a.Axis);
        if (a.Axes is not null) WriteArray(w, "axes", a.Axes.Select(x => (long)x));
        if (a.KeepDims) w.WriteBoolean("keep_dims", true);
        if (a.Start != D.Start) w.WriteNumber("start", a.Start);
        if (a.End != D.End) w.WriteNumber("end", a.End);
        if (a.Shape is not null) WriteArray(w, "shape", a.Shape);
        if (!a.Value.Equals(D.Value)) WriteDouble(w, "value", a.Value);
        if (!a.Epsilon.Equals(D.Epsilon)) WriteDouble(w, "epsilon", a.Epsilon);
        if (a.To != D.To) w.WriteString("to", a.To.ToJsonName());
        if (a.Stride != D.Stride) w.WriteNumber("stride", a.Stride);
        if (a.Padding != D.Padding) w.WriteNumber("padding", a.Padding);
        if (a.Kernel != D.Kernel) w.WriteNumber("kernel", a.Kernel);
        if (a.Capacity != D.Capacity) w.WriteNumber("capacity", a.Capacity);
        if (a.Mask) w.WriteBoolean("mask", true);
        if (!a.Beta.Equals(D.Beta)) WriteDouble(w, "beta", a.Beta);
        if (!a.Beta2.Equals(D.Beta2)) WriteDouble(w, "beta2", a.Beta2);
        if (a.Square) w.WriteBoolean("square", true);
        if (!a.WeightDecay.Equals(D.WeightDecay)) WriteDouble(w, "weight_decay", a.WeightDecay);
        if (!a.Momentum.Equals(D.Momentum)) WriteDouble(w, "momentum", a.Momentum);
        if (a.Init != D.Init) w.WriteString("init", a.Init.ToString().ToLowerInvariant());
        w.WriteEndObject();
    }

    /// <summary>Reads an attrs object; <paramref name="field"/> prefixes error messages (<c>nodes[3].attrs</c>).</summary>
    public static OpAttrs Read(JsonElement e, string field)
    {
        if (e.ValueKind != JsonValueKind.Object) throw Err(field, "expected an object");
        var a = OpAttrs.None;
        foreach (var p in e.EnumerateObject())
        {
            var f = $"{field}.{p.Name}";
            var v = p.Value;
            a = p.Name switch
            {
                "trans_a" => a with { TransA = Bool(v, f) },
                "trans_b" => a with { TransB = Bool(v, f) },
                "axis" => a with { Axis = (int)Int(v, f, int.MinValue, int.MaxValue) },
                "axes" => a with { Axes = [.. Array(v, f).Select((x, i) => (int)Int(x, $"{f}[{i}]", int.MinValue, int.MaxValue))] },
                "keep_dims" => a with { KeepDims = Bool(v, f) },
                "start" => a with { Start = Int(v, f, long.MinValue, long.MaxValue) },
                "end" => a with { End = Int(v, f, long.MinValue, long.MaxValue) },
                "shape" => a with { Shape = [.. Array(v, f).Select((x, i) => Int(x, $"{f}[{i}]", -1, long.MaxValue))] },
                "value" => a with { Value = Double(v, f) },
                "epsilon" => a with { Epsilon = Double(v, f) },
                "to" => a with { To = DTypeOf(v, f) },
                "stride" => a with { Stride = (int)Int(v, f, 1, int.MaxValue) },
                "padding" => a with { Padding = (int)Int(v, f, 0, int.MaxValue) },
                "kernel" => a with { Kernel = (int)Int(v, f, 1, int.MaxValue) },
                "capacity" => a with { Capacity = (int)Int(v, f, 1, int.MaxValue) },
                "mask" => a with { Mask = Bool(v, f) },
                "beta" => a with { Beta = Double(v, f) },
                "beta2" => a with { Beta2 = Double(v, f) },
                "square" => a with { Square = Bool(v, f) },
                "weight_decay" => a with { WeightDecay = Double(v, f) },
                "momentum" => a with { Momentum = Double(v, f) },
                "init" => a with { Init = InitOf(v, f) },
                _ => throw Err(f, $"unknown attribute; known: {string.Join(", ", Keys)}"),
            };
        }
        return a;
    }

    internal static long Int(JsonElement v, string field, long min, long max)
    {
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x))
            throw Err(field, $"expected an integer, got {Show(v)}");
        if (x < min || x > max) throw Err(field, $"{x} is out of range [{min}, {max}]");
        return x;
    }

    internal static bool Bool(JsonElement v, string field) => v.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Err(field, $"expected true or false, got {Show(v)}"),
    };

    internal static JsonElement[] Array(JsonElement v, string field) =>
        v.ValueKind == JsonValueKind.Array ? [.. v.EnumerateArray()] : throw Err(field, $"expected an array, got {Show(v)}");

    internal static double Double(JsonElement v, string field)
    {
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        if (v.ValueKind == JsonValueKind.String)
        {
            switch (v.GetString())
            {
                case "inf": return double.PositiveInfinity;
                case "-inf": return double.NegativeInfinity;
                case "nan": return double.NaN;
            }
        }
        throw Err(field, $"expected a number, got {Show(v)}");
    }

    internal static DType DTypeOf(JsonElement v, string field) =>
        v.ValueKind == JsonValueKind.String && DTypeExtensions.TryParse(v.GetString(), out var d)
            ? d : throw Err(field, $"expected a dtype (f32, f16, bf16, i32), got {Show(v)}");

    private static InitKind InitOf(JsonElement v, string field) =>
        v.ValueKind == JsonValueKind.String && Enum.TryParse<InitKind>(v.GetString(), true, out var k) && Enum.IsDefined(k)
            ? k : throw Err(field, $"expected normal, zeros or ones, got {Show(v)}");

    internal static string Show(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.String => $"\"{v.GetString()}\"",
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        _ => v.GetRawText(),
    };

    internal static ModelSpecException Err(string field, string what) => new($"{field}: {what}") { Field = field };

    private static void WriteArray(Utf8JsonWriter w, string name, IEnumerable<long> xs)
    {
        w.WriteStartArray(name);
        foreach (var x in xs) w.WriteNumberValue(x);
        w.WriteEndArray();
    }

    private static void WriteDouble(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteString(name, double.IsNaN(v) ? "nan" : v > 0 ? "inf" : "-inf");
    }
}
