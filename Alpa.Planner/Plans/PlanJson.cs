using Alpa.Planner.Sharding;
using System.Text;
using System.Text.Json;
using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;

namespace Alpa.Planner.Plans;

/// <summary>
/// The plan's JSON form (DESIGN §6), snake_case, with keys written in a fixed order and numbers in
/// shortest round-trip form, so that write → read → write reproduces the text and a read plan
/// simulates to exactly the numbers of the written one.
/// </summary>
public static partial class PlanJson
{
    public static string Write(Plan plan)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteNumber("format_version", plan.FormatVersion);
            w.WriteString("graph_hash", plan.GraphHash);
            w.WriteString("cluster_hash", plan.ClusterHash);
            w.WriteString("schedule", plan.Schedule.ToJsonName());
            w.WriteNumber("microbatches", plan.Microbatches);
            w.WriteNumber("dp_objective_seconds", plan.DpObjectiveSeconds);
            w.WriteNumber("step_seconds", plan.StepSeconds);
            w.WriteNumber("bubble_fraction", plan.BubbleFraction);
            w.WriteNumber("tflops_per_device", plan.TflopsPerDevice);
            w.WriteNumber("compile_seconds", plan.CompileSeconds);
            w.WriteBoolean("local_all_gather", plan.LocalAllGather);
            WriteCluster(w, plan.Cluster);
            w.WriteStartArray("stages");
            foreach (var s in plan.Stages) WriteStage(w, s);
            w.WriteEndArray();
            w.WriteStartArray("transfers");
            foreach (var t in plan.Transfers)
            {
                w.WriteStartObject();
                w.WriteNumber("from_stage", t.FromStage);
                w.WriteNumber("to_stage", t.ToStage);
                w.WriteNumber("bytes", t.Bytes);
                WriteTensors(w, t.Tensors);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteCluster(Utf8JsonWriter w, InterOpCluster c)
    {
        w.WriteStartObject("cluster");
        w.WriteString("name", c.Name);
        w.WriteNumber("hosts", c.Hosts);
        w.WriteNumber("devices_per_host", c.DevicesPerHost);
        w.WriteNumber("device_memory_bytes", c.DeviceMemoryBytes);
        w.WriteNumber("intra_host_bandwidth", c.IntraHostBandwidth);
        w.WriteNumber("intra_host_latency", c.IntraHostLatency);
        w.WriteNumber("inter_host_bandwidth", c.InterHostBandwidth);
        w.WriteNumber("inter_host_latency", c.InterHostLatency);
        // Written only when measured, so plans for datasheet clusters keep their form.
        if (c.InstructionSeconds > 0) w.WriteNumber("instruction_seconds", c.InstructionSeconds);
        if (c.RunSeconds > 0) w.WriteNumber("run_seconds", c.RunSeconds);
        if (c.SharedCores > 0) w.WriteNumber("shared_cores", c.SharedCores);
        if (c.StageThreads) w.WriteBoolean("stage_threads", true);
        w.WriteEndObject();
    }

    private static void WriteStage(Utf8JsonWriter w, PlanStage s)
    {
        w.WriteStartObject();
        WritePair(w, "layers", s.FirstLayer, s.LastLayer);
        WritePair(w, "submesh", s.Submesh.Hosts, s.Submesh.Devices);
        WritePair(w, "logical_mesh", s.LogicalMesh.N0, s.LogicalMesh.N1);
        w.WriteStartArray("devices");
        foreach (var d in s.Devices) w.WriteNumberValue(d);
        w.WriteEndArray();
        w.WriteStartObject("strategies");
        foreach (var (name, id) in s.Strategies.OrderBy(p => p.Key, StringComparer.Ordinal)) w.WriteString(name, id);
        w.WriteEndObject();
        WriteSpecs(w, "parameter_specs", s.ParameterSpecs);
        WriteSpecs(w, "boundary_specs", s.BoundarySpecs);
        w.WriteNumber("peak_memory_bytes", s.PeakMemoryBytes);
        w.WriteNumber("forward_seconds", s.ForwardSeconds);
        w.WriteNumber("backward_seconds", s.BackwardSeconds);
        w.WriteNumber("update_seconds", s.UpdateSeconds);
        w.WriteNumber("parameter_bytes", s.ParameterBytes);
        w.WriteNumber("activation_bytes", s.ActivationBytes);
        w.WriteNumber("flops", s.Flops);
        w.WriteStartArray("collectives");
        foreach (var c in s.Collectives)
        {
            w.WriteStartObject();
            w.WriteString("kind", KindName(c.Kind));
            w.WriteNumber("axis", c.Axis);
            w.WriteNumber("bytes", c.Bytes);
            w.WriteNumber("seconds", c.Seconds);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteSpecs(Utf8JsonWriter w, string field, IReadOnlyDictionary<string, IReadOnlyList<string>> specs)
    {
        w.WriteStartObject(field);
        foreach (var (name, spec) in specs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.WriteStartArray(name);
            foreach (var dim in spec) w.WriteStringValue(dim);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void WriteTensors(Utf8JsonWriter w, IReadOnlyList<PlanTensor> tensors)
    {
        w.WriteStartArray("tensors");
        foreach (var t in tensors)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteStartArray("shape");
            foreach (var d in t.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteNumber("element_bytes", t.ElementBytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void WritePair(Utf8JsonWriter w, string name, int a, int b)
    {
        w.WriteStartArray(name);
        w.WriteNumberValue(a);
        w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    private static string KindName(CollectiveKind kind) => kind switch
    {
        CollectiveKind.AllReduce => "all_reduce",
        CollectiveKind.AllGather => "all_gather",
        CollectiveKind.ReduceScatter => "reduce_scatter",
        CollectiveKind.AllToAll => "all_to_all",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
