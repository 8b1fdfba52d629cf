using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Cluster;

/// <summary>
/// The JSON cluster file (what <c>alpa profile --out</c> writes and <c>--cluster FILE</c> reads). Units
/// are the human ones of datasheets:
/// <code>
/// { "name": "my-cluster", "hosts": 2, "devices_per_host": 8,
///   "device": { "model": "V100", "memory_gb": 16, "hbm_gb_per_s": 900,
///               "peak_tflops_half": 125, "peak_tflops_f32": 15.7 },
///   "intra_host": { "topology": "switched" | "hybrid-cube-mesh", "gb_per_s_per_device": 150,
///                   "fallback_gb_per_s": 10 },
///   "inter_host": { "gbit_per_s_per_host": 25 },
///   "calibration": { "matmul_efficiency": 0.7, "memory_efficiency": 0.8,
///                    "intra_host_link_efficiency": 0.8, "inter_host_link_efficiency": 0.9,
///                    "intra_host_alpha_us": 10, "inter_host_alpha_us": 50,
///                    "all_to_all_penalty_per_device": 0.5, "source": "..." },
///   "runtime": { "op_us": 20, "matmul_us": 5, "instruction_us": 2, "run_us": 30, "transfer_us": 10 } }
/// </code>
/// <c>runtime</c> (fixed costs of the runtime, <see cref="RuntimeOverheads"/>) is optional: files
/// without it load with no fixed costs, and it is written only when some cost is not zero.
/// Parsing is pure: the caller reads the file. Every error names the field.
/// </summary>
public static class ClusterJson
{
    public static ClusterSpec Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject
                ?? throw new ClusterSpecException("a cluster file must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new ClusterSpecException($"the cluster file is not valid JSON: {e.Message}", e);
        }
        var device = Obj(root, "device");
        var intra = Obj(root, "intra_host");
        var inter = Obj(root, "inter_host");
        var cal = Obj(root, "calibration");
        return new ClusterSpec
        {
            Name = Str(root, "name", "name"),
            Hosts = Int(root, "hosts", "hosts"),
            DevicesPerHost = Int(root, "devices_per_host", "devices_per_host"),
            Device = new DeviceSpec
            {
                Model = Str(device, "model", "device.model"),
                MemoryBytes = (long)(Num(device, "memory_gb", "device.memory_gb") * (1L << 30)),
                PeakHalfFlops = Num(device, "peak_tflops_half", "device.peak_tflops_half") * 1e12,
                PeakF32Flops = Num(device, "peak_tflops_f32", "device.peak_tflops_f32") * 1e12,
                MemoryBytesPerSecond = Num(device, "hbm_gb_per_s", "device.hbm_gb_per_s") * 1e9,
            },
            Topology = Topology(intra),
            IntraHostBytesPerSecond = Num(intra, "gb_per_s_per_device", "intra_host.gb_per_s_per_device") * 1e9,
            FallbackBytesPerSecond = OptNum(intra, "fallback_gb_per_s", "intra_host.fallback_gb_per_s", 10) * 1e9,
            InterHostBytesPerSecond = Num(inter, "gbit_per_s_per_host", "inter_host.gbit_per_s_per_host") * 1e9 / 8,
            Calibration = new Calibration
            {
                MatmulEfficiency = Num(cal, "matmul_efficiency", "calibration.matmul_efficiency"),
                MemoryEfficiency = Num(cal, "memory_efficiency", "calibration.memory_efficiency"),
                IntraHostLinkEfficiency = Num(cal, "intra_host_link_efficiency", "calibration.intra_host_link_efficiency"),
                InterHostLinkEfficiency = Num(cal, "inter_host_link_efficiency", "calibration.inter_host_link_efficiency"),
                IntraHostAlphaSeconds = Num(cal, "intra_host_alpha_us", "calibration.intra_host_alpha_us") * 1e-6,
                InterHostAlphaSeconds = Num(cal, "inter_host_alpha_us", "calibration.inter_host_alpha_us") * 1e-6,
                AllToAllPenaltyPerDevice = OptNum(cal, "all_to_all_penalty_per_device", "calibration.all_to_all_penalty_per_device", 0.5),
                Source = cal["source"] is JsonValue s && s.TryGetValue<string>(out var src) ? src : "cluster file",
            },
            Overheads = root["runtime"] is null ? RuntimeOverheads.None : Overheads(Obj(root, "runtime")),
        }.Validate();
    }

    /// <summary>Writes a spec in the format <see cref="Parse"/> reads.</summary>
    public static string Write(ClusterSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        var c = spec.Calibration;
        var root = new JsonObject
        {
            ["name"] = spec.Name,
            ["hosts"] = spec.Hosts,
            ["devices_per_host"] = spec.DevicesPerHost,
            ["device"] = new JsonObject
            {
                ["model"] = spec.Device.Model,
                ["memory_gb"] = spec.Device.MemoryBytes / (double)(1L << 30),
                ["hbm_gb_per_s"] = spec.Device.MemoryBytesPerSecond / 1e9,
                ["peak_tflops_half"] = spec.Device.PeakHalfFlops / 1e12,
                ["peak_tflops_f32"] = spec.Device.PeakF32Flops / 1e12,
            },
            ["intra_host"] = new JsonObject
            {
                ["topology"] = spec.Topology == IntraHostTopology.HybridCubeMesh ? "hybrid-cube-mesh" : "switched",
                ["gb_per_s_per_device"] = spec.IntraHostBytesPerSecond / 1e9,
                ["fallback_gb_per_s"] = spec.FallbackBytesPerSecond / 1e9,
            },
            ["inter_host"] = new JsonObject { ["gbit_per_s_per_host"] = spec.InterHostBytesPerSecond * 8 / 1e9 },
            ["calibration"] = new JsonObject
            {
                ["matmul_efficiency"] = c.MatmulEfficiency,
                ["memory_efficiency"] = c.MemoryEfficiency,
                ["intra_host_link_efficiency"] = c.IntraHostLinkEfficiency,
                ["inter_host_link_efficiency"] = c.InterHostLinkEfficiency,
                ["intra_host_alpha_us"] = c.IntraHostAlphaSeconds * 1e6,
                ["inter_host_alpha_us"] = c.InterHostAlphaSeconds * 1e6,
                ["all_to_all_penalty_per_device"] = c.AllToAllPenaltyPerDevice,
                ["source"] = c.Source,
            },
        };
        if (!spec.Overheads.IsNone)
        {
            var o = spec.Overheads;
            root["runtime"] = new JsonObject
            {
                ["op_us"] = o.OpSeconds * 1e6,
                ["matmul_us"] = o.MatmulSeconds * 1e6,
                ["instruction_us"] = o.InstructionSeconds * 1e6,
                ["run_us"] = o.RunSeconds * 1e6,
                ["transfer_us"] = o.TransferSeconds * 1e6,
            };
            if (o.SharedCores > 0) ((JsonObject)root["runtime"]!)["shared_cores"] = o.SharedCores;
            if (o.VectorFlops > 0) ((JsonObject)root["runtime"]!)["vector_gflops"] = o.VectorFlops / 1e9;
            if (o.SequentialSmallNodes)
            {
                ((JsonObject)root["runtime"]!)["mesh_concurrent_flops"] = o.MeshConcurrentFlops;
                ((JsonObject)root["runtime"]!)["mesh_concurrent_bytes"] = o.MeshConcurrentBytes;
            }
            if (o.OpFlops.Count > 0) ((JsonObject)root["runtime"]!)["op_gflops"] = Rates(o.OpFlops);
            if (o.OpBytesPerSecond.Count > 0) ((JsonObject)root["runtime"]!)["op_gb_per_s"] = Rates(o.OpBytesPerSecond);
        }
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static RuntimeOverheads Overheads(JsonObject o) => new()
    {
        OpSeconds = OptNum(o, "op_us", "runtime.op_us", 0) * 1e-6,
        MatmulSeconds = OptNum(o, "matmul_us", "runtime.matmul_us", 0) * 1e-6,
        InstructionSeconds = OptNum(o, "instruction_us", "runtime.instruction_us", 0) * 1e-6,
        RunSeconds = OptNum(o, "run_us", "runtime.run_us", 0) * 1e-6,
        TransferSeconds = OptNum(o, "transfer_us", "runtime.transfer_us", 0) * 1e-6,
        SharedCores = o["shared_cores"] is null ? 0 : Int(o, "shared_cores", "runtime.shared_cores"),
        VectorFlops = OptNum(o, "vector_gflops", "runtime.vector_gflops", 0) * 1e9,
        MeshConcurrentFlops = OptNum(o, "mesh_concurrent_flops", "runtime.mesh_concurrent_flops", 0),
        MeshConcurrentBytes = OptNum(o, "mesh_concurrent_bytes", "runtime.mesh_concurrent_bytes", 0),
        OpFlops = Rates(o, "op_gflops"),
        OpBytesPerSecond = Rates(o, "op_gb_per_s"),
    };

    /// <summary>A per-kind rate table in units of 1e9 per second, kinds by their names (e.g. <c>"ReduceSum": 1.3</c>), sorted.</summary>
    private static JsonObject Rates(IReadOnlyDictionary<OpKind, double> rates)
    {
        var table = new JsonObject();
        foreach (var (kind, rate) in rates.OrderBy(kv => kv.Key.ToString(), StringComparer.Ordinal)) table[kind.ToString()] = rate / 1e9;
        return table;
    }

    private static Dictionary<OpKind, double> Rates(JsonObject runtime, string key)
    {
        var rates = new Dictionary<OpKind, double>();
        if (runtime[key] is null) return rates;
        if (runtime[key] is not JsonObject table)
            throw new ClusterSpecException($"cluster field 'runtime.{key}' must be an object of op kind → rate, e.g. {{\"ReduceSum\": 1.3}}") { Field = $"runtime.{key}" };
        foreach (var (name, _) in table)
        {
            if (!Enum.TryParse<OpKind>(name, ignoreCase: false, out var kind) || !Enum.IsDefined(kind) || int.TryParse(name, out _))
                throw new ClusterSpecException($"cluster field 'runtime.{key}' names '{name}', which is not an op kind (e.g. MatMul, ReduceSum, LayerNorm)") { Field = $"runtime.{key}.{name}" };
            rates[kind] = Num(table, name, $"runtime.{key}.{name}") * 1e9;
        }
        return rates;
    }

    private static IntraHostTopology Topology(JsonObject intra)
    {
        var t = Str(intra, "topology", "intra_host.topology");
        return t switch
        {
            "switched" => IntraHostTopology.Switched,
            "hybrid-cube-mesh" => IntraHostTopology.HybridCubeMesh,
            _ => throw new ClusterSpecException($"intra_host.topology '{t}' is not 'switched' or 'hybrid-cube-mesh'") { Field = "intra_host.topology" },
        };
    }

    private static JsonObject Obj(JsonObject o, string key) =>
        o[key] as JsonObject ?? throw Missing(key, "an object");

    private static string Str(JsonObject o, string key, string field) =>
        o[key] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : throw Missing(field, "a non-empty string");

    private static double Num(JsonObject o, string key, string field) =>
        o[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : throw Missing(field, "a number");

    private static double OptNum(JsonObject o, string key, string field, double fallback) =>
        o[key] is null ? fallback : Num(o, key, field);

    private static int Int(JsonObject o, string key, string field)
    {
        var d = Num(o, key, field);
        if (d != Math.Floor(d) || d < int.MinValue || d > int.MaxValue)
            throw new ClusterSpecException($"cluster field '{field}' must be an integer, got {d.ToString(CultureInfo.InvariantCulture)}") { Field = field };
        return (int)d;
    }

    private static ClusterSpecException Missing(string field, string what) =>
        new($"cluster field '{field}' is missing or not {what}") { Field = field };
}
