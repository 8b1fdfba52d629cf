using System.Text.Json;
using Alpa.Silo.Cli;
using static Alpa.Tests.Cli.InProcessCli;

namespace Alpa.Tests.Cli;

public sealed class PlanCliTests
{
    [Fact]
    public void SimulatingAWrittenPlanGivesThePlansNumbers()
    {
        var path = Path.Combine(Path.GetTempPath(), $"alpa-plan-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, err) = Run("plan", "--model", "mlp", "--cluster", "aws-p3.16xlarge:1x4", "--json", "--out", path);
            Assert.True(code == 0, err);
            using var plan = JsonDocument.Parse(output);
            var root = plan.RootElement;
            foreach (var key in new[] { "format_version", "graph_hash", "cluster_hash", "schedule", "microbatches", "stages",
                                        "dp_objective_seconds", "step_seconds", "tflops_per_device", "compile_seconds" })
                Assert.True(root.TryGetProperty(key, out _), $"plan JSON lacks '{key}'");
            var devices = root.GetProperty("stages").EnumerateArray().Sum(s => s.GetProperty("devices").GetArrayLength());
            Assert.Equal(4, devices);
            Assert.Equal(output.Trim(), File.ReadAllText(path).Trim());

            var (code2, simOut, err2) = Run("simulate", "--plan", path, "--json");
            Assert.True(code2 == 0, err2);
            using var sim = JsonDocument.Parse(simOut);
            Assert.Equal(root.GetProperty("step_seconds").GetDouble(), sim.RootElement.GetProperty("step_seconds").GetDouble());
            Assert.Equal(root.GetProperty("tflops_per_device").GetDouble(), sim.RootElement.GetProperty("tflops_per_device").GetDouble());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ACorruptedPlanIsRefusedWithOneLine()
    {
        var path = Path.Combine(Path.GetTempPath(), $"alpa-bad-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, "{\"format_version\": 99}");
        try
        {
            var (code, _, err) = Run("simulate", "--plan", path);
            Assert.Equal(1, code);
            Assert.Single(err.Trim().Split('\n'));
            Assert.Contains(path, err, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("--cluster", "nowhere:1x4")]
    [InlineData("--cluster", "aws-p3.16xlarge:0x4")]
    [InlineData("--method", "magic")]
    public void BadPlanArgumentsFailWithoutAStackTrace(string flag, string value)
    {
        var args = new List<string> { "plan", "--model", "mlp", "--cluster", "aws-p3.16xlarge:1x2" };
        var i = args.IndexOf(flag);
        if (i >= 0) args[i + 1] = value;
        else args.AddRange([flag, value]);
        var (code, _, err) = Run([.. args]);
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("   at ", err, StringComparison.Ordinal);
    }
}
