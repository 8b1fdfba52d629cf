using System.Text.Json;
using Alpa.Silo.Cli;
using static Alpa.Tests.Cli.InProcessCli;

namespace Alpa.Tests.Cli;

public sealed class CliAppTests
{
    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void ModelJsonIsOneDocumentWithTheDocumentedKeys()
    {
        var (code, output, err) = Run("model", "gpt-tiny", "--json");
        Assert.Equal(0, code);
        Assert.Equal("", err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var parameters = root.GetProperty("parameters").GetInt64();
        Assert.InRange(parameters, 200_000, 250_000);
        Assert.Equal(16, root.GetProperty("batch").GetInt32());
        var step = root.GetProperty("flops_per_step").GetDouble();
        var remat = root.GetProperty("flops_per_step_remat").GetDouble();
        Assert.True(remat > step && step > 0);
        var memory = root.GetProperty("memory_bytes");
        Assert.Equal(16 * parameters, memory.GetProperty("weights").GetInt64() + memory.GetProperty("gradients").GetInt64()
            + memory.GetProperty("master_weights").GetInt64() + memory.GetProperty("optimizer_state").GetInt64());
        Assert.True(memory.GetProperty("total").GetInt64() > 16 * parameters);
        var layers = root.GetProperty("layers");
        Assert.Equal(6, layers.GetArrayLength());
        Assert.Equal(parameters, layers.EnumerateArray().Sum(l => l.GetProperty("parameters").GetInt64()));
        Assert.Equal("embed", layers[0].GetProperty("name").GetString());
    }

    [Fact]
    public void ModelTextOutputShowsTheTable()
    {
        var (code, output, _) = Run("model", "wresnet-tiny");
        Assert.Equal(0, code);
        Assert.Contains("parameters", output, StringComparison.Ordinal);
        Assert.Contains("block 1", output, StringComparison.Ordinal);
        Assert.Contains("head", output, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonFlagMayComeFirst()
    {
        var (code, output, _) = Run("--json", "model", "mlp");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal("mlp", doc.RootElement.GetProperty("name").GetString());
    }

    [Fact]
    public void ModelFileIsRead()
    {
        var path = Path.Combine(Path.GetTempPath(), $"alpa-model-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"family":"mlp","hidden":16,"ffn":32,"layers":2,"batch":4}""");
        try
        {
            var (code, output, _) = Run("model", path, "--json");
            Assert.Equal(0, code);
            using var doc = JsonDocument.Parse(output);
            Assert.Equal(2 * (16 * 32 + 32 + 32 * 16 + 16) + 16 * 10 + 10, doc.RootElement.GetProperty("parameters").GetInt64());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void BadModelFileIsOneLineNamingFileAndField()
    {
        var path = Path.Combine(Path.GetTempPath(), $"alpa-model-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"family":"mlp","hidden":-1,"ffn":32,"layers":2,"batch":4}""");
        try
        {
            var (code, output, err) = Run("model", path);
            Assert.Equal(1, code);
            Assert.Equal("", output);
            var line = Assert.Single(Lines(err));
            Assert.StartsWith("alpa: ", line, StringComparison.Ordinal);
            Assert.Contains(path, line, StringComparison.Ordinal);
            Assert.Contains("hidden: expected a positive integer", line, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void UnknownModelIsExitOneWithoutStackTrace()
    {
        var (code, output, err) = Run("model", "gpt-9000");
        Assert.Equal(1, code);
        Assert.Equal("", output);
        var line = Assert.Single(Lines(err));
        Assert.Contains("unknown model 'gpt-9000'", line, StringComparison.Ordinal);
        Assert.Contains("gpt-tiny", line, StringComparison.Ordinal);
        Assert.DoesNotContain(" at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void VerboseAddsTheStackTrace()
    {
        var (code, _, err) = Run("model", "gpt-9000", "--verbose");
        Assert.Equal(1, code);
        Assert.Contains("ModelSpecException", err, StringComparison.Ordinal);
        Assert.Contains(" at ", err, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFileIsExitOne()
    {
        var (code, _, err) = Run("model", "/nonexistent/model.json");
        Assert.Equal(1, code);
        Assert.Contains("does not exist", Assert.Single(Lines(err)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "frobnicate" }, "unknown command 'frobnicate'")]
    [InlineData(new[] { "model" }, "missing argument")]
    [InlineData(new[] { "model", "mlp", "extra" }, "unexpected argument 'extra'")]
    [InlineData(new[] { "model", "mlp", "--bogus" }, "unknown flag '--bogus'")]
    [InlineData(new[] { "model", "mlp", "-x" }, "unknown flag '-x'")]
    [InlineData(new[] { "model", "mlp", "--microbatches" }, "--microbatches needs a value")]
    [InlineData(new[] { "model", "mlp", "--microbatches", "two" }, "positive integer")]
    public void BadUsageIsExitTwoWithOneLine(string[] args, string what)
    {
        var (code, output, err) = Run(args);
        Assert.Equal(2, code);
        Assert.Equal("", output);
        var line = Assert.Single(Lines(err));
        Assert.StartsWith("alpa: ", line, StringComparison.Ordinal);
        Assert.Contains(what, line, StringComparison.Ordinal);
    }

    [Fact]
    public void HelpListsCommandsAndExitsZero()
    {
        var (code, output, _) = Run("--help");
        Assert.Equal(0, code);
        Assert.Contains("model", output, StringComparison.Ordinal);
        var (code2, output2, _) = Run("model", "--help");
        Assert.Equal(0, code2);
        Assert.Contains("--microbatches", output2, StringComparison.Ordinal);
        var (code3, output3, _) = Run("help", "model");
        Assert.Equal(0, code3);
        Assert.Equal(output2, output3);
    }

    [Fact]
    public void NoArgumentsPrintsUsageAndExitsTwo()
    {
        var (code, output, err) = Run();
        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("usage: alpa", err, StringComparison.Ordinal);
    }

    [Fact]
    public void MicrobatchesChangeTheActivationFigures()
    {
        static long Activations(params string[] args)
        {
            var (_, output, _) = Run(args);
            using var doc = JsonDocument.Parse(output);
            return doc.RootElement.GetProperty("memory_bytes").GetProperty("activations").GetInt64();
        }
        var one = Activations("model", "mlp", "--json");
        var four = Activations("model", "mlp", "--json", "--microbatches=4");
        Assert.InRange(one / (4.0 * four), 0.999, 1.001);   // the scalar loss does not scale
    }

    [Fact]
    public void EveryRegisteredCommandHasHelp()
    {
        foreach (var c in CommandRegistry.All)
        {
            var (code, output, _) = Run(c.Name, "--help");
            Assert.Equal(0, code);
            Assert.StartsWith("usage: alpa " + c.Name, output, StringComparison.Ordinal);
        }
    }
}
