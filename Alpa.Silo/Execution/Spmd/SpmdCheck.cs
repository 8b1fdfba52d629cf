using Alpa.Kernels;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Training;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>How far sharded training drifted from single-device training (DESIGN §6).</summary>
public sealed record SpmdCheckResult
{
    /// <summary>Steps compared.</summary>
    public required int Steps { get; init; }
    /// <summary>max over steps of |loss − loss₁| / |loss₁|.</summary>
    public required double MaxLossRelDiff { get; init; }
    /// <summary>max over parameters of ‖a − b‖ / ‖b‖ after the last step (b: single device).</summary>
    public required double MaxParamRelDiff { get; init; }
    /// <summary>The parameter with the largest relative difference.</summary>
    public required string WorstParameter { get; init; }
    /// <summary>Sharded losses per step.</summary>
    public required IReadOnlyList<float> Losses { get; init; }
    /// <summary>Single-device losses per step.</summary>
    public required IReadOnlyList<float> ReferenceLosses { get; init; }
    /// <summary>The last sharded step (bytes and collectives per device).</summary>
    public required SpmdStepResult LastStep { get; init; }
    /// <summary>Per-device parameter and optimizer-state bytes of the sharded run.</summary>
    public required IReadOnlyList<long> PersistentBytes { get; init; }
}

/// <summary>Trains the same model with the same seed and data on the mesh and on one device, and compares.</summary>
public static class SpmdCheck
{
    /// <summary>Constant learning rate.</summary>
    public static SpmdCheckResult Run(Graph model, Graph training, IntraResult plan, ulong seed, int steps, float learningRate = 1e-3f) =>
        Run(model, training, plan, seed, steps, _ => learningRate);

    /// <summary>The learning rate of <paramref name="schedule"/> (its TotalSteps set to <paramref name="steps"/>), as <see cref="Trainer"/> uses it.</summary>
    public static SpmdCheckResult Run(Graph model, Graph training, IntraResult plan, ulong seed, int steps, LearningRateSchedule schedule)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        var s = schedule with { TotalSteps = steps };
        return Run(model, training, plan, seed, steps, step => (float)s.At(step));
    }

    private static SpmdCheckResult Run(Graph model, Graph training, IntraResult plan, ulong seed, int steps, Func<int, float> learningRate)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (steps < 1) throw new ExecutionException($"the check needs at least one step, got {steps}");
        var data = new SyntheticData(model, (int)seed);
        using var sharded = new SpmdStepRunner(model, training, plan, seed);
        using var device = LocalStepRunner.CreateCpuDevice();
        using var single = new LocalStepRunner(model, training, device, seed);
        var losses = new List<float>();
        var reference = new List<float>();
        var lossDiff = 0.0;
        for (var s = 0; s < steps; s++)
        {
            var batch = data.Batch(s);
            losses.Add(sharded.TrainStep(batch, learningRate(s), s + 1));
            reference.Add(single.TrainStep(batch, learningRate(s), s + 1));
            lossDiff = Math.Max(lossDiff, Math.Abs(losses[^1] - reference[^1]) / Math.Max(Math.Abs(reference[^1]), 1e-30));
        }
        var worst = "";
        var paramDiff = 0.0;
        foreach (var p in model.Parameters)
        {
            var d = RelativeDiff(sharded.Read(p.Name), single.Read(p.Name));
            if (d >= paramDiff) (paramDiff, worst) = (d, p.Name);
        }
        return new SpmdCheckResult
        {
            Steps = steps,
            MaxLossRelDiff = lossDiff,
            MaxParamRelDiff = paramDiff,
            WorstParameter = worst,
            Losses = losses,
            ReferenceLosses = reference,
            LastStep = sharded.LastStep!,
            PersistentBytes = sharded.Executor.PersistentBytes,
        };
    }

    /// <summary>‖a − b‖ / ‖b‖ (0 when both are zero).</summary>
    public static double RelativeDiff(HostTensor a, HostTensor b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var x = a.Floats ?? throw new ExecutionException("relative differences need float tensors");
        var y = b.Floats ?? throw new ExecutionException("relative differences need float tensors");
        double diff = 0, norm = 0;
        for (var i = 0; i < y.Length; i++)
        {
            diff += (x[i] - (double)y[i]) * (x[i] - (double)y[i]);
            norm += (double)y[i] * y[i];
        }
        return norm == 0 ? Math.Sqrt(diff) : Math.Sqrt(diff / norm);
    }
}
