using System.Text.Json.Nodes;
using Alpa.Planner;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Tests.Inter;

public sealed class PlanJsonTests
{
    [Fact]
    public void WriteReadSimulateGivesIdenticalNumbers()
    {
        var result = InterOpPassTests.PlanMlp();
        var plan = result.Plan with { CompileSeconds = 1.25 };
        var json = PlanJson.Write(plan);
        var read = PlanJson.Read(json, plan.GraphHash, plan.ClusterHash);
        Assert.Equal(json, PlanJson.Write(read));
        var again = PipelineSimulator.Simulate(read);
        Assert.Equal(plan.StepSeconds, again.StepSeconds);
        Assert.Equal(plan.TflopsPerDevice, again.TflopsPerDevice);
        Assert.Equal(plan.BubbleFraction, again.BubbleFraction);
        Assert.Equal(plan.Stages.Select(s => s.PeakMemoryBytes), again.Stages.Select(s => s.PeakMemoryBytes));
        Assert.Equal(1.25, read.CompileSeconds);
        var root = JsonNode.Parse(json)!.AsObject();
        foreach (var key in new[] { "format_version", "graph_hash", "cluster_hash", "schedule", "microbatches", "stages", "dp_objective_seconds", "step_seconds", "tflops_per_device", "compile_seconds" })
            Assert.True(root.ContainsKey(key), key);
        var stage = root["stages"]![0]!.AsObject();
        foreach (var key in new[] { "layers", "submesh", "logical_mesh", "devices", "strategies", "parameter_specs", "peak_memory_bytes" })
            Assert.True(stage.ContainsKey(key), key);
        Assert.Equal("R", (string)stage["parameter_specs"]!.AsObject().First().Value![0]!);
    }

    private static string Edit(Action<JsonObject> edit)
    {
        var root = JsonNode.Parse(PlanJson.Write(InterOpPassTests.PlanMlp(new() { Microbatches = 4 }).Plan))!.AsObject();
        edit(root);
        return root.ToJsonString();
    }

    [Fact]
    public void BadPlansGiveTypedErrorsNamingTheField()
    {
        var version = Assert.Throws<PlanVersionException>(() => PlanJson.Read(Edit(r => r["format_version"] = 99)));
        Assert.Equal("format_version", version.Field);
        var graph = Assert.Throws<PlanMismatchException>(() => PlanJson.Read(Edit(_ => { }), expectedGraphHash: "sha256:other"));
        Assert.Equal("graph_hash", graph.Field);
        var cluster = Assert.Throws<PlanMismatchException>(() => PlanJson.Read(Edit(_ => { }), expectedClusterHash: "sha256:other"));
        Assert.Equal("cluster_hash", cluster.Field);
        var good = Edit(_ => { });
        Assert.Equal("$", Assert.Throws<PlanFormatException>(() => PlanJson.Read(good[..(good.Length / 2)])).Field);
        Assert.Equal("stages[0].layers", Assert.Throws<PlanFormatException>(() => PlanJson.Read(Edit(r => r["stages"]![0]!.AsObject().Remove("layers")))).Field);
        Assert.Equal("microbatches", Assert.Throws<PlanFormatException>(() => PlanJson.Read(Edit(r => r["microbatches"] = "four"))).Field);
        Assert.Equal("schedule", Assert.Throws<PlanFormatException>(() => PlanJson.Read(Edit(r => r["schedule"] = "zigzag"))).Field);
        Assert.Equal("stages[0].devices", Assert.Throws<PlanFormatException>(() => PlanJson.Read(Edit(r => r["stages"]![0]!["devices"]![0] = 999))).Field);
        var spec = Assert.Throws<PlanFormatException>(() => PlanJson.Read(Edit(r =>
        {
            var specs = r["stages"]![0]!["parameter_specs"]!.AsObject();
            specs[specs.First().Key]![0] = "S7";
        })));
        Assert.StartsWith("stages[0].parameter_specs.", spec.Field, StringComparison.Ordinal);
        Assert.IsAssignableFrom<AlpaException>(spec);
    }

    [Fact]
    public void GraphHashIsStableAndSensitive()
    {
        var a = GraphHashing.Compute(TestGraphs.Mlp(3, 4, 8));
        Assert.Equal(a, GraphHashing.Compute(TestGraphs.Mlp(3, 4, 8)));
        Assert.NotEqual(a, GraphHashing.Compute(TestGraphs.Mlp(3, 4, 16)));
        Assert.NotEqual(a, GraphHashing.Compute(TestGraphs.Mlp(3, 4, 8, prefix: "m.")));
        Assert.StartsWith("sha256:", a, StringComparison.Ordinal);
    }
}
