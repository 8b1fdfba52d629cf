using Alpa.Kernels;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Training;

namespace Alpa.Silo.Serving;

/// <summary>
/// Where a served model's weights come from (the seam for checkpoints): null from <see cref="Load"/>
/// means "keep the seeded random initialization".
/// </summary>
public interface IWeightSource
{
    /// <summary>Parameters by name (the training graph's names), or null for the random initialization.</summary>
    IReadOnlyDictionary<string, HostTensor>? Load(GptSpec spec, TextWriter log, CancellationToken cancellationToken);
}

/// <summary><c>--random-init</c>: the executor's seeded initialization.</summary>
public sealed class RandomWeights : IWeightSource
{
    public IReadOnlyDictionary<string, HostTensor>? Load(GptSpec spec, TextWriter log, CancellationToken cancellationToken) => null;
}

/// <summary>
/// <c>--train-steps N</c>: trains the model on the synthetic bigram language of <c>alpa train</c>
/// (one CPU device, Adam) before serving it — a stand-in for a trained checkpoint until the
/// checkpoint format of the checkpoints branch lands on main.
/// </summary>
public sealed class TrainedWeights(int steps, int seed) : IWeightSource
{
    public IReadOnlyDictionary<string, HostTensor>? Load(GptSpec spec, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(log);
        var model = spec.Build();
        var training = TrainingGraph.Build(model, new TrainingOptions { Optimizer = new Adam() });
        using var device = LocalStepRunner.CreateCpuDevice();
        using var runner = new LocalStepRunner(model, training, device, (ulong)seed);
        var options = new TrainerOptions
        {
            Steps = steps,
            EvalEvery = 0,
            Schedule = new LearningRateSchedule { Peak = 3e-3, WarmupSteps = Math.Max(1, steps / 10) },
            SamplesPerStep = spec.Batch,
            ItemsPerStep = (long)spec.Batch * spec.SeqLen,
        };
        TrainingResult result;
        using (var bar = new Cli.ProgressBar(log, "tok/s"))
            result = Trainer.Run(runner, new SyntheticData(model, seed), options, bar, cancellationToken);
        log.WriteLine($"trained {spec.Name} for {steps} steps: loss {result.Losses[0]:F3} → {result.Losses[^1]:F3}");
        return model.Parameters.ToDictionary(p => p.Name, p => runner.Read(p.Name), StringComparer.Ordinal);
    }
}

/// <summary>
/// <c>--checkpoint DIR</c>: the sharded checkpoint format is being built on the checkpoints branch
/// and is not on main yet, so this refuses with a clear message (exit 1) instead of guessing a format.
/// </summary>
public sealed class CheckpointWeights(string directory) : IWeightSource
{
    public IReadOnlyDictionary<string, HostTensor>? Load(GptSpec spec, TextWriter log, CancellationToken cancellationToken) =>
        throw new ServingException($"--checkpoint {directory}: checkpoint loading waits for the checkpoint format (checkpoints branch, not merged yet); use --random-init or --train-steps N");
}
