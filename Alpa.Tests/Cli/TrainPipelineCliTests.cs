using System.Text.Json;
using Alpa.Silo.Cli;
using static Alpa.Tests.Cli.InProcessCli;

namespace Alpa.Tests.Cli;

/// <summary><c>alpa train</c> with pipeline plans: <c>--plan FILE</c>, its refusals, <c>--timeline</c>.</summary>
public sealed class TrainPipelineCliTests
{
    [Fact]
    public void APlanFileTrainsWithATimelineAndIsRefusedForAnotherModelOrCluster()
    {
        var dir = Directory.CreateTempSubdirectory("alpa-train-plan-").FullName;
        try
        {
            var plan = Path.Combine(dir, "plan.json");
            var (code, _, err) = Run("plan", "--model", "mlp", "--cluster", "local:1x2", "--microbatches", "4", "--out", plan);
            Assert.True(code == 0, err);

            var timeline = Path.Combine(dir, "step.json");
            (code, var output, err) = Run("train", "--model", "mlp", "--cluster", "local:1x2", "--plan", plan, "--steps", "3", "--timeline", timeline, "--json");
            Assert.True(code == 0, err);
            using (var doc = JsonDocument.Parse(output))
            {
                Assert.Equal(3, doc.RootElement.GetProperty("losses").GetArrayLength());
                Assert.Equal(4, doc.RootElement.GetProperty("pipeline").GetProperty("microbatches").GetInt32());
            }
            using (var events = JsonDocument.Parse(File.ReadAllText(timeline)))
            {
                var kinds = events.RootElement.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("kind").GetString()).ToHashSet();
                Assert.Contains("forward", kinds);
                Assert.Contains("backward", kinds);
                Assert.Contains("update", kinds);
            }
            Assert.StartsWith("<svg", File.ReadAllText(Path.ChangeExtension(timeline, ".svg")), StringComparison.Ordinal);

            (code, _, err) = Run("train", "--model", "gpt-tiny", "--cluster", "local:1x2", "--plan", plan, "--steps", "1");
            Assert.Equal(1, code);
            Assert.Contains("made for another training graph", err, StringComparison.Ordinal);
            Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("alpa:", StringComparison.Ordinal));

            (code, _, err) = Run("train", "--model", "mlp", "--cluster", "local:1x4", "--plan", plan, "--steps", "1");
            Assert.Equal(1, code);
            Assert.Contains("is for cluster local:1x2, not local:1x4", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void AProfiledClusterFileWithIntraOnlyTrainsOneMeshUnderTheWholeGraphIlp()
    {
        var dir = Directory.CreateTempSubdirectory("alpa-train-profiled-").FullName;
        try
        {
            var cluster = Path.Combine(dir, "cluster.json");
            var (code, _, err) = Run("profile", "--cluster", "local:1x2", "--out", cluster);
            Assert.True(code == 0, err);
            (code, _, err) = Run("train", "--model", "mlp", "--cluster", cluster, "--method", "intra-only", "--steps", "2");
            Assert.True(code == 0, err);
            Assert.Contains("intra-op plan on mesh", err, StringComparison.Ordinal);
            Assert.DoesNotContain("pipeline plan:", err, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
