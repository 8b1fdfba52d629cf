using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Alpa.Planner.Graph;

/// <summary>
/// The graph file format (docs/graph-format.md): <c>{"format":"alpa-graph","version":1,"nodes":[…],
/// "outputs":[ids],"loss":id|null,"updates":[[target,value],…]}</c>. Writing emits only non-default
/// attributes; reading rebuilds every node through <see cref="GraphBuilder"/>, so a file with a
/// shape error is refused with the node's index in the message.
/// </summary>
public static class GraphJson
{
    public const string FormatName = "alpa-graph";
    public const int Version = 1;

    private static readonly Dictionary<OpKind, string> OpNames =
        Enum.GetValues<OpKind>().ToDictionary(k => k, SnakeCase);
    private static readonly Dictionary<string, OpKind> OpsByName =
        OpNames.ToDictionary(p => p.Value, p => p.Key, StringComparer.OrdinalIgnoreCase);

    /// <summary>The file name of an op kind: snake case (<c>matmul</c>, <c>layer_norm</c>, <c>moe_gate</c>).</summary>
    public static string OpName(OpKind op) => OpNames[op];

    public static bool TryParseOp(string name, out OpKind op) =>
        OpsByName.TryGetValue(name, out op) || Enum.TryParse(name, ignoreCase: true, out op) && Enum.IsDefined(op);

    public static string PhaseName(Phase phase) => phase.ToString().ToLowerInvariant();

    /// <summary>The graph as a JSON document.</summary>
    public static string Write(Graph graph, bool indented = false)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = indented }))
            Write(w, graph);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Writes the graph as one JSON object.</summary>
    public static void Write(Utf8JsonWriter w, Graph graph)
    {
        w.WriteStartObject();
        w.WriteString("format", FormatName);
        w.WriteNumber("version", Version);
        w.WriteStartArray("nodes");
        foreach (var n in graph.Nodes) WriteNode(w, n);
        w.WriteEndArray();
        w.WriteStartArray("outputs");
        foreach (var o in graph.Outputs) w.WriteNumberValue(o.Id);
        w.WriteEndArray();
        if (graph.Loss is null) w.WriteNull("loss");
        else w.WriteNumber("loss", graph.Loss.Id);
        w.WriteStartArray("updates");
        foreach (var u in graph.Updates)
        {
            w.WriteStartArray();
            w.WriteNumberValue(u.Target.Id);
            w.WriteNumberValue(u.Value.Id);
            w.WriteEndArray();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteNode(Utf8JsonWriter w, Node n)
    {
        w.WriteStartObject();
        w.WriteNumber("id", n.Id);
        w.WriteString("op", OpName(n.Op));
        w.WriteString("name", n.Name);
        w.WriteStartArray("shape");
        foreach (var d in n.Shape) w.WriteNumberValue(d);
        w.WriteEndArray();
        w.WriteString("dtype", n.DType.ToJsonName());
        w.WriteStartArray("inputs");
        foreach (var i in n.Inputs) w.WriteNumberValue(i.Id);
        w.WriteEndArray();
        w.WritePropertyName("attrs");
        GraphJsonAttrs.Write(w, n.Attrs);
        w.WriteNumber("layer", n.Layer);
        w.WriteString("phase", PhaseName(n.Phase));
        w.WriteEndObject();
    }

    /// <summary>Reads a graph file's text.</summary>
    /// <exception cref="ModelSpecException">Malformed JSON, wrong format or version, or a bad node; the message names the field.</exception>
    public static Graph Read(string json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            return Read(doc.RootElement);
        }
        catch (JsonException e)
        {
            throw new ModelSpecException($"malformed JSON at line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {FirstLine(e.Message)}", e);
        }
    }

    /// <summary>Reads a parsed graph document.</summary>
    public static Graph Read(JsonElement root) => new GraphJsonReader(root).Read();

    internal static string FirstLine(string message)
    {
        var cut = message.IndexOfAny(['\r', '\n']);
        return cut < 0 ? message : message[..cut];
    }

    private static string SnakeCase(OpKind op)
    {
        if (op == OpKind.MatMul) return "matmul";
        var s = op.ToString();
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (char.IsUpper(s[i]) && i > 0) sb.Append('_');
            sb.Append(char.ToLowerInvariant(s[i]));
        }
        return sb.ToString();
    }

    internal static string Num(double v) => v.ToString("R", CultureInfo.InvariantCulture);
}
