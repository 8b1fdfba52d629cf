using Alpa.Planner.Sharding;
using System.Text.Json;
using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;

namespace Alpa.Planner.Plans;

public static partial class PlanJson
{
    /// <summary>
    /// Parses a plan. Throws <see cref="PlanVersionException"/> for a format version other than
    /// <see cref="Plan.CurrentFormatVersion"/>, <see cref="PlanMismatchException"/> when an expected hash is
    /// given and differs, and <see cref="PlanFormatException"/> naming the field for anything malformed.
    /// </summary>
    public static Plan Read(string json, string? expectedGraphHash = null, string? expectedClusterHash = null)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new PlanFormatException($"plan: not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine}): {e.Message}", e) { Field = "$" };
        }
        using (doc)
        {
            var root = Obj(doc.RootElement, "$");
            var version = Int(Req(root, "format_version", ""), "format_version");
            if (version != Plan.CurrentFormatVersion)
                throw new PlanVersionException($"plan: format_version {version} is not supported (this alpa reads version {Plan.CurrentFormatVersion}); re-run `alpa plan`") { Field = "format_version" };
            var graphHash = Str(Req(root, "graph_hash", ""), "graph_hash");
            var clusterHash = Str(Req(root, "cluster_hash", ""), "cluster_hash");
            CheckHash("graph_hash", graphHash, expectedGraphHash, "graph");
            CheckHash("cluster_hash", clusterHash, expectedClusterHash, "cluster");
            var plan = new Plan
            {
                FormatVersion = version,
                GraphHash = graphHash,
                ClusterHash = clusterHash,
                Schedule = Schedule(Req(root, "schedule", "")),
                Microbatches = Positive(Req(root, "microbatches", ""), "microbatches"),
                DpObjectiveSeconds = Num(Req(root, "dp_objective_seconds", ""), "dp_objective_seconds"),
                StepSeconds = Num(Req(root, "step_seconds", ""), "step_seconds"),
                BubbleFraction = Num(Req(root, "bubble_fraction", ""), "bubble_fraction"),
                TflopsPerDevice = Num(Req(root, "tflops_per_device", ""), "tflops_per_device"),
                CompileSeconds = Num(Req(root, "compile_seconds", ""), "compile_seconds"),
                LocalAllGather = !root.TryGetProperty("local_all_gather", out var lag) || Bool(lag, "local_all_gather"),
                Cluster = ReadCluster(Req(root, "cluster", ""), clusterHash),
                Stages = Arr(Req(root, "stages", ""), "stages").Select((e, i) => ReadStage(e, $"stages[{i}]")).ToArray(),
                Transfers = Arr(Req(root, "transfers", ""), "transfers").Select((e, i) => ReadTransfer(e, $"transfers[{i}]")).ToArray(),
            };
            PlanValidation.Check(plan);
            return plan;
        }
    }

    private static void CheckHash(string field, string actual, string? expected, string what)
    {
        if (expected is not null && !string.Equals(actual, expected, StringComparison.Ordinal))
            throw new PlanMismatchException($"plan: {field} {actual} does not match this {what} ({expected}); the plan was made for another {what}, re-run `alpa plan`") { Field = field };
    }

    private static InterOpCluster ReadCluster(JsonElement e, string hash)
    {
        var o = Obj(e, "cluster");
        return new InterOpCluster
        {
            Name = Str(Req(o, "name", "cluster"), "cluster.name"),
            Hosts = Positive(Req(o, "hosts", "cluster"), "cluster.hosts"),
            DevicesPerHost = Positive(Req(o, "devices_per_host", "cluster"), "cluster.devices_per_host"),
            DeviceMemoryBytes = Long(Req(o, "device_memory_bytes", "cluster"), "cluster.device_memory_bytes"),
            IntraHostBandwidth = Num(Req(o, "intra_host_bandwidth", "cluster"), "cluster.intra_host_bandwidth"),
            IntraHostLatency = Num(Req(o, "intra_host_latency", "cluster"), "cluster.intra_host_latency"),
            InterHostBandwidth = Num(Req(o, "inter_host_bandwidth", "cluster"), "cluster.inter_host_bandwidth"),
            InterHostLatency = Num(Req(o, "inter_host_latency", "cluster"), "cluster.inter_host_latency"),
            InstructionSeconds = o.TryGetProperty("instruction_seconds", out var i) ? Num(i, "cluster.instruction_seconds") : 0,
            RunSeconds = o.TryGetProperty("run_seconds", out var r) ? Num(r, "cluster.run_seconds") : 0,
            SharedCores = o.TryGetProperty("shared_cores", out var sc) ? Positive(sc, "cluster.shared_cores") : 0,
            StageThreads = o.TryGetProperty("stage_threads", out var st) && Bool(st, "cluster.stage_threads"),
            Hash = hash,
        };
    }

    private static PlanStage ReadStage(JsonElement e, string p)
    {
        var o = Obj(e, p);
        var layers = Pair(Req(o, "layers", p), p + ".layers");
        var submesh = Pair(Req(o, "submesh", p), p + ".submesh");
        var mesh = Pair(Req(o, "logical_mesh", p), p + ".logical_mesh");
        return new PlanStage
        {
            FirstLayer = layers.A,
            LastLayer = layers.B,
            Submesh = new SubmeshShape(submesh.A, submesh.B),
            LogicalMesh = new LogicalMeshShape(mesh.A, mesh.B),
            Devices = Arr(Req(o, "devices", p), p + ".devices").Select((d, i) => Int(d, $"{p}.devices[{i}]")).ToArray(),
            Strategies = Obj(Req(o, "strategies", p), p + ".strategies").EnumerateObject()
                .ToDictionary(x => x.Name, x => Str(x.Value, $"{p}.strategies.{x.Name}"), StringComparer.Ordinal),
            ParameterSpecs = Specs(Req(o, "parameter_specs", p), p + ".parameter_specs"),
            BoundarySpecs = o.TryGetProperty("boundary_specs", out var boundary) ? Specs(boundary, p + ".boundary_specs") : new Dictionary<string, IReadOnlyList<string>>(),
            PeakMemoryBytes = Long(Req(o, "peak_memory_bytes", p), p + ".peak_memory_bytes"),
            ForwardSeconds = Num(Req(o, "forward_seconds", p), p + ".forward_seconds"),
            BackwardSeconds = Num(Req(o, "backward_seconds", p), p + ".backward_seconds"),
            UpdateSeconds = Num(Req(o, "update_seconds", p), p + ".update_seconds"),
            ParameterBytes = Long(Req(o, "parameter_bytes", p), p + ".parameter_bytes"),
            ActivationBytes = Long(Req(o, "activation_bytes", p), p + ".activation_bytes"),
            Flops = Num(Req(o, "flops", p), p + ".flops"),
            Collectives = Arr(Req(o, "collectives", p), p + ".collectives").Select((c, i) => ReadCollective(c, $"{p}.collectives[{i}]")).ToArray(),
        };
    }

    private static StepCollective ReadCollective(JsonElement e, string p)
    {
        var o = Obj(e, p);
        var kindText = Str(Req(o, "kind", p), p + ".kind");
        CollectiveKind kind = kindText switch
        {
            "all_reduce" => CollectiveKind.AllReduce,
            "all_gather" => CollectiveKind.AllGather,
            "reduce_scatter" => CollectiveKind.ReduceScatter,
            "all_to_all" => CollectiveKind.AllToAll,
            _ => throw Bad(p + ".kind", $"'{kindText}' is not a collective (all_reduce, all_gather, reduce_scatter, all_to_all)"),
        };
        return new StepCollective
        {
            Kind = kind,
            Axis = Int(Req(o, "axis", p), p + ".axis"),
            Bytes = Long(Req(o, "bytes", p), p + ".bytes"),
            Seconds = Num(Req(o, "seconds", p), p + ".seconds"),
        };
    }

    private static PlanTransfer ReadTransfer(JsonElement e, string p)
    {
        var o = Obj(e, p);
        var tensors = o.TryGetProperty("tensors", out var list)
            ? Arr(list, p + ".tensors").Select((t, i) => ReadTensor(t, $"{p}.tensors[{i}]")).ToArray()
            : [];
        return new PlanTransfer(Int(Req(o, "from_stage", p), p + ".from_stage"), Int(Req(o, "to_stage", p), p + ".to_stage"),
                                Long(Req(o, "bytes", p), p + ".bytes")) { Tensors = tensors };
    }

    private static PlanTensor ReadTensor(JsonElement e, string p)
    {
        var o = Obj(e, p);
        return new PlanTensor(Str(Req(o, "name", p), p + ".name"),
            Arr(Req(o, "shape", p), p + ".shape").Select((d, i) => Long(d, $"{p}.shape[{i}]")).ToArray(),
            Positive(Req(o, "element_bytes", p), p + ".element_bytes"));
    }

    private static Dictionary<string, IReadOnlyList<string>> Specs(JsonElement e, string p) =>
        Obj(e, p).EnumerateObject().ToDictionary(x => x.Name, x => (IReadOnlyList<string>)Arr(x.Value, $"{p}.{x.Name}")
            .Select((d, i) => Spec(d, $"{p}.{x.Name}[{i}]")).ToArray(), StringComparer.Ordinal);

    private static PipelineSchedule Schedule(JsonElement e)
    {
        var text = Str(e, "schedule");
        return ScheduleOrder.TryParse(text, out var s) ? s : throw Bad("schedule", $"'{text}' is not a schedule (1f1b or gpipe)");
    }

    private static string Spec(JsonElement e, string p)
    {
        var text = Str(e, p);
        return text is "R" or "S0" or "S1" or "S01" ? text : throw Bad(p, $"'{text}' is not a sharding spec (R, S0, S1, S01)");
    }
}
