using System.Text.Json;

namespace Alpa.Planner.Plans;

// Typed field access with the field's path in every error.
public static partial class PlanJson
{
    internal static PlanFormatException Bad(string field, string why) => new($"plan: field '{field}': {why}") { Field = field };

    private static JsonElement Obj(JsonElement e, string p) =>
        e.ValueKind == JsonValueKind.Object ? e : throw Bad(p, $"expected an object, found {e.ValueKind}");

    private static JsonElement.ArrayEnumerator Arr(JsonElement e, string p) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray() : throw Bad(p, $"expected an array, found {e.ValueKind}");

    private static JsonElement Req(JsonElement o, string name, string parent)
    {
        var path = parent.Length == 0 ? name : parent + "." + name;
        return o.TryGetProperty(name, out var v) ? v : throw Bad(path, "missing");
    }

    private static string Str(JsonElement e, string p) =>
        e.ValueKind == JsonValueKind.String ? e.GetString()! : throw Bad(p, $"expected a string, found {e.ValueKind}");

    private static bool Bool(JsonElement e, string p) => e.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw Bad(p, $"expected true or false, found {e}"),
    };

    private static int Int(JsonElement e, string p) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var v) ? v : throw Bad(p, $"expected an integer, found {e}");

    private static int Positive(JsonElement e, string p)
    {
        var v = Int(e, p);
        return v >= 1 ? v : throw Bad(p, $"must be ≥ 1, found {v}");
    }

    private static long Long(JsonElement e, string p)
    {
        long v = -1;
        var ok = e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out v);
        return ok && v >= 0 ? v : throw Bad(p, $"expected a non-negative integer, found {e}");
    }

    private static double Num(JsonElement e, string p)
    {
        double v = double.NaN;
        var ok = e.ValueKind == JsonValueKind.Number && e.TryGetDouble(out v);
        return ok && double.IsFinite(v) && v >= 0 ? v : throw Bad(p, $"expected a non-negative number, found {e}");
    }

    private static (int A, int B) Pair(JsonElement e, string p)
    {
        var items = Arr(e, p).ToArray();
        if (items.Length != 2) throw Bad(p, $"expected two integers, found {items.Length} values");
        return (Int(items[0], p + "[0]"), Int(items[1], p + "[1]"));
    }
}
