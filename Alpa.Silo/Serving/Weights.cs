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
/// <c>--checkpoint DIR</c>: the latest committed checkpoint under DIR (the format of
/// <c>alpa train --checkpoint-dir</c>); each parameter is read whole by its training-graph name,
/// whatever plan and mesh saved it, and resharded by the serving stages.
/// </summary>
public sealed class CheckpointWeights(string directory) : IWeightSource
{
    public IReadOnlyDictionary<string, HostTensor>? Load(GptSpec spec, TextWriter log, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(log);
        var (checkpoint, skipped) = Checkpoints.CheckpointStore.OpenLatest(directory, cancellationToken);
        foreach (var s in skipped) log.WriteLine($"skipped checkpoint {s}");
        var weights = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var p in spec.Build().Parameters)
        {
            if (!checkpoint.Contains(p.Name))
                throw new ServingException($"--checkpoint {directory}: step {checkpoint.Step} has no parameter '{p.Name}' — was it saved for another model than {spec.Name}?");
            var value = checkpoint.ReadFull(p.Name);
            if (!value.Shape.AsSpan().SequenceEqual(p.Shape.AsSpan()))
                throw new ServingException($"--checkpoint {directory}: '{p.Name}' is [{string.Join(", ", value.Shape)}], {spec.Name} needs {p.Shape}");
            weights[p.Name] = value;
        }
        log.WriteLine($"loaded {weights.Count} parameters of {spec.Name} from step {checkpoint.Step} in {checkpoint.Path}");
        return weights;
    }
}
