using System.Diagnostics;

using Alpa.Kernels;

namespace Alpa.Silo.Training;

/// <summary>What executes one training step or one evaluation pass of a model, wherever it runs.</summary>
public interface IStepRunner : IDisposable
{
    /// <summary>The current (full, unsharded) value of a parameter.</summary>
    HostTensor Read(string name);

    /// <summary>Runs forward, backward and the optimizer update on a batch; returns the loss.</summary>
    float TrainStep(IReadOnlyDictionary<string, HostTensor> batch, float learningRate, int step);

    /// <summary>Returns the loss of a batch without changing any parameter or optimizer state.</summary>
    float Evaluate(IReadOnlyDictionary<string, HostTensor> batch);
}

/// <summary>Options of a training run.</summary>
public sealed record TrainerOptions
{
    /// <summary>Number of optimizer steps.</summary>
    public int Steps { get; init; } = 100;
    /// <summary>Evaluate on held-out batches every this many steps (and after the last); 0 disables.</summary>
    public int EvalEvery { get; init; } = 50;
    /// <summary>Held-out batches per evaluation.</summary>
    public int EvalBatches { get; init; } = 2;
    /// <summary>Learning-rate schedule; its TotalSteps is set to <see cref="Steps"/>.</summary>
    public LearningRateSchedule Schedule { get; init; } = new();
    /// <summary>Samples (sequences or images) per step, for throughput.</summary>
    public long SamplesPerStep { get; init; }
    /// <summary>Tokens per step (sequence models) or samples (others), for throughput.</summary>
    public long ItemsPerStep { get; init; }
    /// <summary>Model FLOPs of one training step (what the graph executes).</summary>
    public double FlopsPerStep { get; init; }
    /// <summary>Steps already done (a resumed run starts here; data and schedule continue from it).</summary>
    public int StartStep { get; init; }
    /// <summary>Called after every step (and its evaluation) with the number of steps done, e.g. to checkpoint.</summary>
    public Action<int>? AfterStep { get; init; }
}

/// <summary>One evaluation point.</summary>
public sealed record EvalPoint(int Step, double Loss);

/// <summary>Progress of a run, reported after every step.</summary>
public sealed record StepProgress(int Step, int Steps, float Loss, double ItemsPerSecond);

/// <summary>The result of a training run.</summary>
public sealed record TrainingResult(
    IReadOnlyList<float> Losses,
    IReadOnlyList<EvalPoint> Eval,
    double ItemsPerSecond,
    double ModelFlopsPerSecond,
    double Seconds);

/// <summary>The training loop: data order from (seed, step), schedule, periodic held-out evaluation.</summary>
public static class Trainer
{
    /// <summary>A batch plus the optimizer's per-step scalar inputs <c>optimizer.lr</c> and <c>optimizer.step</c>.</summary>
    public static Dictionary<string, HostTensor> StepInputs(IReadOnlyDictionary<string, HostTensor> batch, float learningRate, int step) =>
        new(batch, StringComparer.Ordinal)
        {
            ["optimizer.lr"] = HostTensor.Scalar(learningRate),
            ["optimizer.step"] = HostTensor.Scalar(step),
        };

    public static TrainingResult Run(IStepRunner runner, SyntheticData data, TrainerOptions options,
                                     IProgress<StepProgress>? progress = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(runner);
        ArgumentNullException.ThrowIfNull(data);
        var schedule = options.Schedule with { TotalSteps = options.Steps };
        var losses = new List<float>(options.Steps);
        var eval = new List<EvalPoint>();
        var clock = Stopwatch.StartNew();
        for (var step = options.StartStep; step < options.Steps; step++)
        {
            cancel.ThrowIfCancellationRequested();
            var loss = runner.TrainStep(data.Batch(step), (float)schedule.At(step), step + 1);
            if (!float.IsFinite(loss))
                throw new Planner.AlpaException($"the loss became {loss} at step {step + 1}; lower the learning rate (--lr) or enable gradient clipping");
            losses.Add(loss);
            var done = step + 1;
            if (options.EvalEvery > 0 && (done % options.EvalEvery == 0 || done == options.Steps))
                eval.Add(new EvalPoint(done, Evaluate(runner, data, options.EvalBatches)));
            options.AfterStep?.Invoke(done);
            progress?.Report(new StepProgress(done, options.Steps, loss, options.ItemsPerStep * (done - options.StartStep) / clock.Elapsed.TotalSeconds));
        }
        var seconds = clock.Elapsed.TotalSeconds;
        var ran = options.Steps - options.StartStep;
        return new TrainingResult(losses, eval, options.ItemsPerStep * ran / seconds,
                                  options.FlopsPerStep * ran / seconds, seconds);
    }

    private static double Evaluate(IStepRunner runner, SyntheticData data, int batches)
    {
        double total = 0;
        for (var i = 0; i < batches; i++) total += runner.Evaluate(data.Batch(i, DataSplit.Eval));
        return total / batches;
    }
}
