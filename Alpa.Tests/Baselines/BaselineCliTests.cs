using System.Text.Json;
using System.Xml.Linq;
using Alpa.Silo.Cli;
using static Alpa.Tests.Cli.InProcessCli;

namespace Alpa.Tests.Baselines;

public sealed class BaselineCliTests
{
    [Fact]
    public void BaselineJsonHasTheGridAndTheWinner()
    {
        var (code, output, err) = Run("baseline", "--method", "megatron", "--model", "gpt-tiny", "--cluster", "aws-p3.16xlarge:1x2", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        Assert.False(root.GetProperty("oom").GetBoolean());
        Assert.Equal("megatron", root.GetProperty("method").GetString());
        var grid = root.GetProperty("grid");
        Assert.True(grid.GetArrayLength() > 1);
        var winner = root.GetProperty("winner");
        Assert.Equal(2, winner.GetProperty("data").GetInt32() * winner.GetProperty("tensor").GetInt32() * winner.GetProperty("pipeline").GetInt32());
        Assert.True(root.GetProperty("plan").GetProperty("stages").GetArrayLength() >= 1);
    }

    [Fact]
    public void UnknownBaselineMethodIsAUsageError()
    {
        var (code, _, err) = Run("baseline", "--method", "alpa", "--model", "gpt-tiny", "--cluster", "aws-p3.16xlarge:1x2");
        Assert.Equal(2, code);
        Assert.Contains("megatron", err, StringComparison.Ordinal);
    }

    [Fact]
    public void BenchPaperWritesRowsJsonAndChart()
    {
        var dir = Path.Combine(Path.GetTempPath(), "alpa-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var (code, output, err) = Run("bench", "paper", "--family", "wresnet", "--max-gpus", "1", "--methods", "auto,baseline", "--out", dir, "--json");
            Assert.True(code == 0, err);
            using var doc = JsonDocument.Parse(output);
            var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToArray();
            Assert.Equal(["auto", "ppdp"], rows.Select(r => r.GetProperty("method").GetString()));
            Assert.All(rows, r =>
            {
                Assert.Equal("wresnet-250m", r.GetProperty("model").GetString());
                Assert.Equal(1, r.GetProperty("gpus").GetInt32());
                Assert.True(r.GetProperty("tflops_per_device").GetDouble() > 0);
                Assert.False(r.GetProperty("oom").GetBoolean());
            });
            var svg = Directory.GetFiles(dir, "paper-aws-p3.16xlarge-*.svg").Single();
            Assert.Equal("svg", XDocument.Load(svg).Root!.Name.LocalName);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void ChartMarksOomAndMergeKeepsEarlierRows()
    {
        BenchRow Row(string model, int gpus, string method, bool oom) => new()
        {
            Family = "gpt", Model = model, Gpus = gpus, Method = method, Oom = oom, Pflops = oom ? 0 : gpus, TflopsPerDevice = oom ? 0 : 1,
        };
        var svg = BenchChart.Svg([Row("a", 1, "auto", false), Row("a", 1, "megatron", true)], "t");
        Assert.Contains("×", XDocument.Parse(svg).Root!.Value, StringComparison.Ordinal);

        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "{\"rows\":[{\"family\":\"gpt\",\"model\":\"a\",\"gpus\":1,\"method\":\"auto\",\"tflops_per_device\":1,\"pflops\":1,\"oom\":false,\"compile_seconds\":1,\"step_seconds\":1}," +
                                    "{\"family\":\"gpt\",\"model\":\"b\",\"gpus\":2,\"method\":\"auto\",\"tflops_per_device\":1,\"pflops\":2,\"oom\":false,\"compile_seconds\":1,\"step_seconds\":1}]}");
            var merged = BenchRow.Merge(path, [Row("b", 2, "auto", true)]);
            Assert.Equal(2, merged.Count);
            Assert.False(merged[0].Oom);
            Assert.True(merged[1].Oom);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
