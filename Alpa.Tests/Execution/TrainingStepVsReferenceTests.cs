using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Planner.Training;
using Alpa.Silo.Execution;
using Alpa.Tests.Autodiff;
using Alpa.Tests.Reference;

namespace Alpa.Tests.Execution;

/// <summary>
/// A whole training step of a tiny GPT (autodiff + Adam + global-norm clipping) through the CPU
/// executor against the float64 reference: loss and every updated parameter and moment agree
/// within the project's fp32 rule (relative norm error ≤ 1e-4).
/// </summary>
public sealed class TrainingStepVsReferenceTests
{
    [Fact]
    public void TinyGptTrainingStepMatchesTheFloat64Reference()
    {
        var model = TinyTransformer.Build(layers: 2, batch: 2, seq: 8, hidden: 16, heads: 2, vocab: 11);
        var train = TrainingGraph.Build(model, new TrainingOptions { Optimizer = new Adam { WeightDecay = 0.01 }, ClipNorm = 1.0 });
        var rng = new Random(3);
        var inputs = new Dictionary<string, HostTensor>
        {
            ["ids"] = HostTensor.FromInts([.. Enumerable.Range(0, 16).Select(_ => rng.Next(11))], 2, 8),
            ["labels"] = HostTensor.FromInts([.. Enumerable.Range(0, 16).Select(_ => rng.Next(11))], 2, 8),
            [TrainingGraph.LearningRate] = HostTensor.Scalar(1e-2f),
            [TrainingGraph.Step] = HostTensor.Scalar(1f),
        };
        using var device = new CpuDevice();
        using var exec = new GraphExecutor(train, device, new ExecutorOptions { Seed = 5 });
        var leaves = inputs.ToDictionary(kv => kv.Key, kv => ToRef(kv.Value));
        foreach (var p in train.Parameters) leaves[p.Name] = ToRef(exec.Read(p.Name));
        var expected = ReferenceEvaluator.Evaluate(train, leaves);

        var result = exec.Run(inputs);

        var refLoss = expected[train.Loss!].Value;
        Assert.True(Math.Abs(result.Loss!.Value - refLoss) <= 1e-5 * Math.Abs(refLoss), $"loss {result.Loss} vs {refLoss}");
        Assert.NotEmpty(train.Updates);
        foreach (var u in train.Updates)
            Kernels.Ref.Close(exec.Read(u.Target.Name).Floats!, expected[u.Value].Data, 1e-4, u.Target.Name);
    }

    private static RefTensor ToRef(HostTensor t) =>
        new(new Shape(t.Shape), t.Floats is { } f ? [.. f.Select(v => (double)v)] : [.. t.Ints!.Select(v => (double)v)]);
}
