namespace Alpa.Planner.Training;

/// <summary>
/// The optimizer of a training graph. The learning rate is not an option: it is the scalar input
/// <c>optimizer.lr</c>, fed every step by the runtime (so schedules need no new graph).
/// Optimizer state is always fp32.
/// </summary>
public abstract record Optimizer
{
    /// <summary>Decoupled weight decay λ: the update subtracts lr·λ·p (AdamW style). 0 disables it.</summary>
    public double WeightDecay { get; init; }

    /// <summary>fp32 state tensors kept per parameter (momentum buffer, Adam moments).</summary>
    public abstract int StateSlots { get; }

    internal virtual void Validate()
    {
        if (!(WeightDecay >= 0)) throw new AlpaException($"weight decay must be ≥ 0, got {WeightDecay}") { Field = "optimizer.weight_decay" };
    }
}

/// <summary>SGD: p ← p − lr·(d + λp), d = g, or with momentum μ: buf ← μ·buf + g, d = buf.</summary>
public sealed record Sgd : Optimizer
{
    /// <summary>Momentum μ in [0, 1); 0 (the default) is plain SGD and keeps no buffer.</summary>
    public double Momentum { get; init; }

    public override int StateSlots => Momentum != 0 ? 1 : 0;

    internal override void Validate()
    {
        base.Validate();
        if (!(Momentum is >= 0 and < 1)) throw new AlpaException($"momentum must be in [0, 1), got {Momentum}") { Field = "optimizer.momentum" };
    }
}

/// <summary>Adam with bias correction (AdamW when <see cref="Optimizer.WeightDecay"/> &gt; 0).</summary>
public sealed record Adam : Optimizer
{
    /// <summary>Decay of the first moment, in [0, 1). Default 0.9.</summary>
    public double Beta1 { get; init; } = 0.9;
    /// <summary>Decay of the second moment, in [0, 1). Default 0.999.</summary>
    public double Beta2 { get; init; } = 0.999;
    /// <summary>ε added to √v̂ in the denominator, &gt; 0. Default 1e-8.</summary>
    public double Epsilon { get; init; } = 1e-8;

    public override int StateSlots => 2;

    internal override void Validate()
    {
        base.Validate();
        if (!(Beta1 is >= 0 and < 1)) throw new AlpaException($"Adam beta1 must be in [0, 1), got {Beta1}") { Field = "optimizer.beta1" };
        if (!(Beta2 is >= 0 and < 1)) throw new AlpaException($"Adam beta2 must be in [0, 1), got {Beta2}") { Field = "optimizer.beta2" };
        if (!(Epsilon > 0)) throw new AlpaException($"Adam epsilon must be > 0, got {Epsilon}") { Field = "optimizer.epsilon" };
    }
}
