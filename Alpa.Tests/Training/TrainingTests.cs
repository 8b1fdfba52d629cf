using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Training;

namespace Alpa.Tests.Training;

public sealed class TrainingTests
{
    private static TrainingResult Train(string name, int steps, int seed = 0, double lr = 3e-3)
    {
        var model = ModelZoo.Get(name).Build();
        var training = TrainingGraph.Build(model, new TrainingOptions { Optimizer = new Adam() });
        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, training, device, (ulong)seed);
        var options = new TrainerOptions
        {
            Steps = steps,
            EvalEvery = steps,
            Schedule = new LearningRateSchedule { Peak = lr, WarmupSteps = Math.Max(1, steps / 10) },
        };
        return Trainer.Run(runner, new SyntheticData(model, seed), options);
    }

    [Fact]
    public void GptTinyHalvesItsLossWithin200Steps()
    {
        var r = Train("gpt-tiny", 200);
        Assert.True(r.Losses[^1] < r.Losses[0] / 2, $"first {r.Losses[0]}, last {r.Losses[^1]}");
        Assert.True(r.Eval[^1].Loss < r.Losses[0] / 2, $"held-out loss {r.Eval[^1].Loss}");
    }

    [Theory]
    [InlineData("moe-tiny", 40)]
    [InlineData("wresnet-tiny", 40)]
    [InlineData("mlp", 40)]
    public void EveryTinyModelReducesItsLoss(string name, int steps)
    {
        var r = Train(name, steps);
        var head = r.Losses.Take(3).Average();
        var tail = r.Losses.TakeLast(3).Average();
        Assert.True(tail < 0.8 * head, $"{name}: first steps {head}, last steps {tail}");
    }

    [Fact]
    public void TheSameSeedGivesBitIdenticalLosses()
    {
        var a = Train("gpt-tiny", 8, seed: 5);
        var b = Train("gpt-tiny", 8, seed: 5);
        Assert.Equal(a.Losses.Select(BitConverter.SingleToInt32Bits), b.Losses.Select(BitConverter.SingleToInt32Bits));
        var c = Train("gpt-tiny", 8, seed: 6);
        Assert.NotEqual(a.Losses, c.Losses);
    }
}
