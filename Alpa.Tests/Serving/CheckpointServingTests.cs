using Alpa.Silo.Cli;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

public sealed class CheckpointServingTests
{
    [Fact]
    public void ATrainingCheckpointLoadsIntoTwoStagesOfTwoDevices()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"alpa-serve-ckpt-{Guid.NewGuid():N}");
        try
        {
            using (var o = new StringWriter())
            using (var e = new StringWriter())
                Assert.Equal(0, CliApp.Run(["train", "--model", "gpt-tiny", "--steps", "6", "--checkpoint-dir", dir, "--checkpoint-every", "6"], o, e));
            var weights = new CheckpointWeights(dir).Load(GenerationModelTests.Tiny, TextWriter.Null, default)!;
            Assert.Equal(GenerationModelTests.Tiny.Build().Parameters.Count(), weights.Count);
            var layout = new GenerationLayout { Slots = 1, PrefillChunk = 8, Stages = [(0, 2, 2), (3, 5, 2)] };
            using var served = new GenerationModel(GenerationModelTests.Tiny, layout, seed: 99);
            using var random = new GenerationModel(GenerationModelTests.Tiny, layout, seed: 99);
            served.Load(weights);
            var prompt = ByteTokenizer.Encode("ckpt");
            var (a, b) = (served.Step([new SlotWork(0, 0, prompt)])[0], random.Step([new SlotWork(0, 0, prompt)])[0]);
            Assert.True(GenerationModelTests.RelativeError(a, b) > 1e-2, "the checkpoint's weights replace the seeded initialization");
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
