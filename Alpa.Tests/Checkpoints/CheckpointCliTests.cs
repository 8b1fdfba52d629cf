using System.Text.Json;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Cli;
using static Alpa.Tests.Cli.InProcessCli;

namespace Alpa.Tests.Checkpoints;

/// <summary><c>alpa train</c> with checkpoints, <c>alpa checkpoint inspect|export|import</c>, in process.</summary>
public sealed class CheckpointCliTests
{
    [Fact]
    public void ExportImportRoundTripResumesFromTheSameWeights()
    {
        using var f = new CheckpointFixture();
        var (dir, file, imported) = (Path.Combine(f.Directory, "run"), Path.Combine(f.Directory, "m.safetensors"), Path.Combine(f.Directory, "imported"));
        Assert.Equal(0, Run("train", "--model", "mlp", "--steps", "4", "--checkpoint-dir", dir, "--checkpoint-every", "2", "--keep", "1", "--json").Code);
        Assert.Equal([4L], CheckpointStore.Committed(dir).Select(c => c.Step));

        var inspect = Run("checkpoint", "inspect", dir, "--json");
        Assert.Equal(0, inspect.Code);
        using (var doc = JsonDocument.Parse(inspect.Out))
        {
            Assert.Equal("ok", doc.RootElement.GetProperty("steps")[0].GetProperty("status").GetString());
            Assert.Equal("mlp", doc.RootElement.GetProperty("latest").GetProperty("metadata").GetProperty("model").GetString());
        }

        Assert.Equal(0, Run("checkpoint", "export", dir, "--out", file).Code);
        var (tensors, metadata) = Safetensors.Read(file);
        Assert.Equal("4", metadata["alpa.step"]);
        Assert.Equal("mlp", metadata["alpa.model"]);
        var saved = CheckpointStore.OpenLatest(dir).Checkpoint;
        Assert.All(tensors, t => Assert.Equal(saved.ReadFull(t.Name).Floats!, t.Value.Floats!));
        Assert.DoesNotContain(tensors, t => saved.Entry(t.Name).Kind == "state");

        Assert.Equal(0, Run("checkpoint", "import", file, "--out", imported).Code);
        var back = CheckpointStore.OpenLatest(imported).Checkpoint;
        Assert.Equal(0, back.Step);
        Assert.All(tensors, t => Assert.Equal(t.Value.Floats!, back.ReadFull(t.Name).Floats!));

        var resumed = Run("train", "--model", "mlp", "--steps", "2", "--resume", imported, "--json");
        Assert.Equal(0, resumed.Code);
        Assert.Contains("optimizer states start at zero", resumed.Err, StringComparison.Ordinal);
        var fresh = Run("train", "--model", "mlp", "--steps", "2", "--json");
        using var a = JsonDocument.Parse(resumed.Out);
        using var b = JsonDocument.Parse(fresh.Out);
        // Trained weights give a lower first loss than the seed's initialization.
        Assert.True(a.RootElement.GetProperty("losses")[0].GetDouble() < b.RootElement.GetProperty("losses")[0].GetDouble());
    }

    [Fact]
    public void APipelineCheckpointResumesOnOneDeviceLikeAnUninterruptedRun()
    {
        using var f = new CheckpointFixture();
        Assert.Equal(0, Run("train", "--model", "mlp", "--cluster", "local:2x2", "--steps", "8", "--checkpoint-dir", f.Directory, "--checkpoint-every", "4", "--json").Code);
        var saved = CheckpointStore.OpenLatest(f.Directory).Checkpoint;
        Assert.EndsWith("stage(s)", saved.Manifest.Metadata["devices"], StringComparison.Ordinal);
        Directory.Delete(CheckpointStore.StepDirectory(f.Directory, 8), recursive: true);

        var resumed = Run("train", "--model", "mlp", "--steps", "8", "--resume", f.Directory, "--check", "--json");
        Assert.Equal(0, resumed.Code);
        using var doc = JsonDocument.Parse(resumed.Out);
        Assert.Equal(4, doc.RootElement.GetProperty("start_step").GetInt32());
        var check = doc.RootElement.GetProperty("check");
        Assert.True(check.GetProperty("max_param_rel_diff").GetDouble() <= 1e-4, resumed.Out);
        Assert.True(check.GetProperty("max_loss_rel_diff").GetDouble() <= 1e-4, resumed.Out);
    }

    [Fact]
    public void BadCheckpointArgumentsAreOneLineErrors()
    {
        using var f = new CheckpointFixture();
        var missing = Run("train", "--model", "mlp", "--steps", "2", "--resume", Path.Combine(f.Directory, "none"));
        Assert.Equal(1, missing.Code);
        Assert.Matches("^alpa: checkpoint directory .* does not exist\n?$", missing.Err.Split("\n").Last(l => l.Length > 0));
        var empty = Run("checkpoint", "inspect", f.Directory);
        Assert.Equal(0, empty.Code);
        Assert.Contains("no usable checkpoint", empty.Out, StringComparison.Ordinal);
        Assert.Equal(2, Run("train", "--model", "mlp", "--checkpoint-every", "2").Code);
        Assert.Equal(2, Run("checkpoint", "frobnicate", f.Directory).Code);

        Assert.Equal(0, Run("train", "--model", "mlp", "--steps", "2", "--checkpoint-dir", f.Directory, "--json").Code);
        var other = Run("train", "--model", "gpt-tiny", "--steps", "4", "--resume", f.Directory);
        Assert.Equal(1, other.Code);
        Assert.Contains("was saved with model mlp, this run has gpt-tiny: pass --model mlp", other.Err, StringComparison.Ordinal);
    }
}
