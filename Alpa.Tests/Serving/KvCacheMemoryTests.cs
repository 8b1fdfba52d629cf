using Alpa.Planner.Inference;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

/// <summary>The KV-cache memory check: predicted bytes = what the stages allocate, and configurations that do not fit are refused.</summary>
public sealed class KvCacheMemoryTests
{
    private static readonly global::Alpa.Planner.Models.GptSpec Tiny = GenerationModelTests.Tiny;

    [Theory]
    [InlineData(3, 0, 5, 1)]    // the whole model on one device: 4 blocks
    [InlineData(3, 0, 2, 2)]    // embeddings + 2 blocks on a (1, 2) mesh: heads (and caches) split in two
    [InlineData(2, 3, 5, 4)]    // 2 blocks + head on a (1, 4) mesh: 4 heads over 4 devices
    [InlineData(5, 0, 0, 1)]    // embeddings only: no cache
    public void PredictedKvBytesEqualTheAllocatedOnes(int slots, int first, int last, int devices)
    {
        using var stage = StagePrograms.Create(Tiny, slots, 8, (first, last), devices, seed: 1);
        var predicted = InferenceMemory.KvCacheBytesPerDevice(Tiny, slots, first, last, devices);
        Assert.Equal(predicted, stage.KvCacheBytesPerDevice);
        var blocks = InferenceMemory.Blocks(Tiny, first, last);
        Assert.Equal((long)blocks * 2 * slots * Tiny.SeqLen * Tiny.Hidden * 4 / devices, predicted);
    }

    [Fact]
    public void ThePlannerRefusesACacheThatDoesNotFitAndSaysHowManySlotsWould()
    {
        var cluster = GenerationModel.NominalCpu(2);
        cluster = cluster with { Device = cluster.Device with { MemoryBytes = 2L << 20 } };
        var error = Assert.Throws<InferenceMemoryException>(() => InferencePlanner.Plan(Tiny, cluster, slots: 64, InferenceObjective.Throughput));
        Assert.Contains("of key/value cache per device", error.Message, StringComparison.Ordinal);
        Assert.Contains("lower --slots (at most", error.Message, StringComparison.Ordinal);
        var most = int.Parse(error.Message.Split("(at most ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(most, 1, 63);

        // 8 slots fit: the plan uses both devices and every stage fits.
        var plan = InferencePlanner.Plan(Tiny, cluster, slots: 8, InferenceObjective.Throughput);
        Assert.All(plan.Stages, s => Assert.True(InferenceMemory.Fits(Tiny, 8, s, cluster.Device.MemoryBytes), $"stage {s} does not fit"));
        Assert.Equal(2, plan.Stages.Sum(s => s.Devices));
    }

    [Fact]
    public void OneDeviceServingIsRefusedBeforeAnyWeightIsLoaded()
    {
        var options = new ServingSetupOptions { Spec = Tiny, Layout = new GenerationLayout { Slots = 1 << 20 }, Weights = new TrainedWeights(1000, 1) };
        var error = Assert.Throws<InferenceMemoryException>(() => ServingSetup.Create(options, GenerationModel.NominalCpu(1), TextWriter.Null));
        Assert.Contains("gpt-tiny", error.Message, StringComparison.Ordinal);
    }
}
