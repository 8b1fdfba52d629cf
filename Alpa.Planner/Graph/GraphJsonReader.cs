using System.Text.Json;

namespace Alpa.Planner.Graph;

/// <summary>Rebuilds a graph from its file through <see cref="GraphBuilder"/>, naming the offending field on error.</summary>
internal sealed class GraphJsonReader(JsonElement root)
{
    private static readonly string[] TopKeys = ["format", "version", "nodes", "outputs", "loss", "updates", "name", "batch"];
    private static readonly string[] NodeKeys = ["id", "op", "name", "shape", "dtype", "inputs", "attrs", "layer", "phase", "flops", "bytes"];

    private readonly GraphBuilder _b = new();
    private readonly Dictionary<long, Node> _byId = [];

    public Graph Read()
    {
        if (root.ValueKind != JsonValueKind.Object) throw GraphJsonAttrs.Err("graph", "expected a JSON object");
        CheckKeys(root, "graph", TopKeys);
        CheckFormat();
        var nodes = GraphJsonAttrs.Array(Required(root, "nodes", "graph"), "nodes");
        for (var i = 0; i < nodes.Length; i++) ReadNode(nodes[i], $"nodes[{i}]");

        var outputs = root.TryGetProperty("outputs", out var o)
            ? [.. GraphJsonAttrs.Array(o, "outputs").Select((x, i) => Ref(x, $"outputs[{i}]"))]
            : new List<Node>();
        Node? loss = root.TryGetProperty("loss", out var l) && l.ValueKind != JsonValueKind.Null ? Ref(l, "loss") : null;
        var updates = new List<Update>();
        if (root.TryGetProperty("updates", out var u))
        {
            var items = GraphJsonAttrs.Array(u, "updates");
            for (var i = 0; i < items.Length; i++)
            {
                var pair = GraphJsonAttrs.Array(items[i], $"updates[{i}]");
                if (pair.Length != 2) throw GraphJsonAttrs.Err($"updates[{i}]", "expected [target, value]");
                updates.Add(new Update(Ref(pair[0], $"updates[{i}][0]"), Ref(pair[1], $"updates[{i}][1]")));
            }
        }
        if (outputs.Count == 0 && loss is not null) outputs.Add(loss);
        try
        {
            return _b.Build(outputs, loss, updates);
        }
        catch (ShapeException e)
        {
            throw new ModelSpecException($"graph: {e.Message}", e) { Field = "graph" };
        }
    }

    private void CheckFormat()
    {
        var format = Required(root, "format", "graph");
        if (format.ValueKind != JsonValueKind.String || format.GetString() != GraphJson.FormatName)
            throw GraphJsonAttrs.Err("format", $"expected \"{GraphJson.FormatName}\", got {GraphJsonAttrs.Show(format)}");
        var version = GraphJsonAttrs.Int(Required(root, "version", "graph"), "version", long.MinValue, long.MaxValue);
        if (version != GraphJson.Version)
            throw GraphJsonAttrs.Err("version", $"graph format version {version} is not supported; this alpa reads version {GraphJson.Version}");
    }

    private void ReadNode(JsonElement e, string field)
    {
        if (e.ValueKind != JsonValueKind.Object) throw GraphJsonAttrs.Err(field, "expected an object");
        CheckKeys(e, field, NodeKeys);
        var id = GraphJsonAttrs.Int(Required(e, "id", field), $"{field}.id", 0, long.MaxValue);
        if (_byId.ContainsKey(id)) throw GraphJsonAttrs.Err($"{field}.id", $"node {id} is defined twice");
        var opText = Required(e, "op", field);
        if (opText.ValueKind != JsonValueKind.String || !GraphJson.TryParseOp(opText.GetString()!, out var op))
            throw GraphJsonAttrs.Err($"{field}.op", $"unknown op kind {GraphJsonAttrs.Show(opText)}");
        var name = e.TryGetProperty("name", out var nm)
            ? nm.ValueKind == JsonValueKind.String && nm.GetString()!.Length > 0 ? nm.GetString()! : throw GraphJsonAttrs.Err($"{field}.name", "expected a non-empty string")
            : $"{GraphJson.OpName(op)}.{id}";
        var attrs = e.TryGetProperty("attrs", out var at) ? GraphJsonAttrs.Read(at, $"{field}.attrs") : OpAttrs.None;
        var inputs = e.TryGetProperty("inputs", out var ins)
            ? GraphJsonAttrs.Array(ins, $"{field}.inputs").Select((x, i) => Ref(x, $"{field}.inputs[{i}]")).ToList()
            : [];
        var shape = e.TryGetProperty("shape", out var sh) ? ShapeOf(sh, $"{field}.shape") : null;
        DType? dtype = e.TryGetProperty("dtype", out var dt) ? GraphJsonAttrs.DTypeOf(dt, $"{field}.dtype") : null;
        _b.Layer = e.TryGetProperty("layer", out var ly) ? (int)GraphJsonAttrs.Int(ly, $"{field}.layer", -1, int.MaxValue) : -1;
        _b.Phase = e.TryGetProperty("phase", out var ph) ? PhaseOf(ph, $"{field}.phase") : Phase.Forward;

        var node = Create(op, name, inputs, attrs, shape, dtype, field);
        if (node.Name != name) throw GraphJsonAttrs.Err($"{field}.name", $"'{name}' is already used by an earlier node");
        if (shape is not null && node.Shape != shape)
            throw GraphJsonAttrs.Err($"{field}.shape", $"the file says {shape}, but {op} of its inputs gives {node.Shape}");
        if (dtype is not null && node.DType != dtype)
            throw GraphJsonAttrs.Err($"{field}.dtype", $"the file says {dtype.Value.ToJsonName()}, but {op} of its inputs gives {node.DType.ToJsonName()}");
        _byId[id] = node;
    }

    private Node Create(OpKind op, string name, List<Node> inputs, OpAttrs attrs, Shape? shape, DType? dtype, string field)
    {
        try
        {
            if (op is OpKind.Parameter or OpKind.Input or OpKind.Constant or OpKind.State)
            {
                if (inputs.Count != 0) throw GraphJsonAttrs.Err($"{field}.inputs", $"a {GraphJson.OpName(op)} takes no inputs");
                if (shape is null) throw GraphJsonAttrs.Err($"{field}.shape", $"a {GraphJson.OpName(op)} needs its shape");
                if (dtype is null) throw GraphJsonAttrs.Err($"{field}.dtype", $"a {GraphJson.OpName(op)} needs its dtype");
                return _b.Leaf(op, name, shape, dtype.Value, attrs);
            }
            return _b.Op(op, inputs, attrs, name);
        }
        catch (ShapeException e)
        {
            throw new ModelSpecException($"{field}: {e.Message}", e) { Field = field };
        }
    }

    private Node Ref(JsonElement v, string field)
    {
        var id = GraphJsonAttrs.Int(v, field, long.MinValue, long.MaxValue);
        return _byId.TryGetValue(id, out var n) ? n : throw GraphJsonAttrs.Err(field, $"node {id} does not exist yet");
    }

    private static Shape ShapeOf(JsonElement v, string field) =>
        new([.. GraphJsonAttrs.Array(v, field).Select((x, i) => GraphJsonAttrs.Int(x, $"{field}[{i}]", 0, long.MaxValue))]);

    private static Phase PhaseOf(JsonElement v, string field) =>
        v.ValueKind == JsonValueKind.String && Enum.TryParse<Phase>(v.GetString(), true, out var p) && Enum.IsDefined(p)
            ? p : throw GraphJsonAttrs.Err(field, $"expected forward, recompute, backward or update, got {GraphJsonAttrs.Show(v)}");

    private static JsonElement Required(JsonElement obj, string key, string field) =>
        obj.TryGetProperty(key, out var v) ? v : throw GraphJsonAttrs.Err(field == "graph" ? key : $"{field}.{key}", "is missing");

    private static void CheckKeys(JsonElement obj, string field, string[] known)
    {
        foreach (var p in obj.EnumerateObject())
            if (Array.IndexOf(known, p.Name) < 0)
                throw GraphJsonAttrs.Err(field == "graph" ? p.Name : $"{field}.{p.Name}", $"unknown field; known: {string.Join(", ", known)}");
    }
}
