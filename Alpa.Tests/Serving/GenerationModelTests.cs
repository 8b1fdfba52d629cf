using Alpa.Kernels;
using Alpa.Planner.Inference;
using Alpa.Planner.Models;
using Alpa.Silo.Serving;

namespace Alpa.Tests.Serving;

public sealed class GenerationModelTests
{
    internal static GptSpec Tiny => (GptSpec)ModelZoo.Get("gpt-tiny");

    /// <summary>Trained gpt-tiny weights, built once for the class (40 Adam steps on the synthetic language).</summary>
    internal static readonly Lazy<IReadOnlyDictionary<string, HostTensor>> Trained =
        new(() => new TrainedWeights(40, 3).Load(Tiny, TextWriter.Null, default)!);

    /// <summary>DESIGN §6: ‖a − b‖ / ‖b‖ over the whole logits row.</summary>
    internal static double RelativeError(float[] a, float[] b) =>
        Alpa.Silo.Execution.Spmd.SpmdCheck.RelativeDiff(HostTensor.FromFloats(a, a.Length), HostTensor.FromFloats(b, b.Length));

    [Fact]
    public void ChunkedPrefillGivesTheSameLogitsAsOneTokenAtATime()
    {
        var tokens = ByteTokenizer.Encode("hello, caches!");
        using var model = new GenerationModel(Tiny, new GenerationLayout { Slots = 3, PrefillChunk = 8 }, seed: 5);
        model.Load(Trained.Value);
        var stepwise = new List<float[]>();
        for (var i = 0; i < tokens.Length; i++) stepwise.Add(model.Step([new SlotWork(1, i, [tokens[i]])])[0]);

        // Slot 2: prefill in chunks of 8 and 6 (the second also decodes slot 1 one token on), then decode.
        var first = model.Step([new SlotWork(2, 0, tokens[..8])])[0];
        var second = model.Step([new SlotWork(2, 8, tokens[8..]), new SlotWork(1, tokens.Length, [tokens[0]])]);
        Assert.True(RelativeError(first, stepwise[7]) < 1e-5, $"after 8 tokens: {RelativeError(first, stepwise[7])}");
        Assert.True(RelativeError(second[0], stepwise[^1]) < 1e-5, $"after {tokens.Length} tokens: {RelativeError(second[0], stepwise[^1])}");
    }

    [Fact]
    public void TwoStagesOfTwoDevicesGenerateTheSameGreedyTokensAsOneDevice()
    {
        var plan = InferencePlanner.Plan(Tiny, GenerationModel.NominalCpu(4), slots: 2, InferenceObjective.Throughput, stages: 2);
        Assert.Equal([2, 2], plan.Stages.Select(s => s.Devices));
        Assert.Equal((0, Tiny.LayerCount - 1), (plan.Stages[0].First, plan.Stages[1].Last));
        var layout = new GenerationLayout { Slots = 2, PrefillChunk = 8 };
        using var single = new GenerationModel(Tiny, layout, seed: 5);
        using var distributed = new GenerationModel(Tiny, layout with { Stages = [.. plan.Stages.Select(s => (s.First, s.Last, s.Devices))] }, seed: 5);
        Assert.All(distributed.Stages, s => Assert.Contains("heads split", s.Describe, StringComparison.Ordinal));
        single.Load(Trained.Value);
        distributed.Load(Trained.Value);

        var prompt = ByteTokenizer.Encode("ab ab ab");
        var (a, b) = (single.Step([new SlotWork(0, 0, prompt)])[0], distributed.Step([new SlotWork(0, 0, prompt)])[0]);
        var worst = RelativeError(b, a);
        var generated = new List<int>();
        for (var pos = prompt.Length; pos < Tiny.SeqLen; pos++)
        {
            var (ta, tb) = (Sampler.ArgMax(a), Sampler.ArgMax(b));
            Assert.Equal(ta, tb);
            generated.Add(ta);
            (a, b) = (single.Step([new SlotWork(0, pos, [ta])])[0], distributed.Step([new SlotWork(0, pos, [tb])])[0]);
            worst = Math.Max(worst, RelativeError(b, a));
        }
        Assert.True(worst < 1e-4, $"largest per-step relative logits error {worst:E2}");
        Assert.Equal(Tiny.SeqLen - prompt.Length, generated.Count);
    }
}
