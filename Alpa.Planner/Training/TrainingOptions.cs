namespace Alpa.Planner.Training;

/// <summary>How <see cref="TrainingGraph.Build"/> turns a model into one training step.</summary>
public sealed record TrainingOptions
{
    /// <summary>The optimizer: <see cref="Adam"/> (the default, β1 0.9, β2 0.999, ε 1e-8) or <see cref="Sgd"/>.</summary>
    public Optimizer Optimizer { get; init; } = new Adam();

    /// <summary>
    /// Global-norm gradient clipping: every gradient is multiplied by min(1, ClipNorm / (‖g‖ + 1e-6)),
    /// ‖g‖ the L2 norm over all parameters' (unscaled, fp32) gradients. Null disables clipping.
    /// </summary>
    public double? ClipNorm { get; init; }

    /// <summary>
    /// Per-layer activation recomputation: the backward of each layer recomputes that layer's
    /// forward activations from its inputs (Phase.Recompute nodes) instead of reading stored ones.
    /// </summary>
    public bool Remat { get; init; }

    /// <summary>Numerics and memory accounting; null takes the compute dtype from the model's parameters.</summary>
    public PrecisionPolicy? Precision { get; init; }

    internal void Validate()
    {
        Optimizer.Validate();
        if (ClipNorm is { } c && !(c > 0 && !double.IsInfinity(c)))
            throw new AlpaException($"the clipping norm must be a finite number > 0, got {c}") { Field = "clip_norm" };
    }
}
