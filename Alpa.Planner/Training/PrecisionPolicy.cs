using Alpa.Planner.Graph;

namespace Alpa.Planner.Training;

/// <summary>
/// How a model trains numerically and what that costs in memory (DESIGN §3.1). Model graphs are
/// built with their parameters in <see cref="Compute"/>. In half precision the training graph
/// keeps an fp32 master copy of every parameter (state <c>&lt;param&gt;.master</c>), casts the
/// gradients to fp32, runs the optimizer on the master and writes back <c>param = Cast(master')</c>.
/// With f16 the loss is multiplied by <see cref="LossScale"/> before the backward pass and the
/// gradients by 1/<see cref="LossScale"/> before clipping.
/// </summary>
public sealed record PrecisionPolicy
{
    /// <summary>A policy computing in <paramref name="compute"/>; the loss scale defaults to 1024 for f16, 1 otherwise.</summary>
    public PrecisionPolicy(DType compute, double? lossScale = null)
    {
        if (!compute.IsFloat()) throw new AlpaException($"the compute dtype must be f32, f16 or bf16, got {compute.ToJsonName()}") { Field = "precision" };
        var scale = lossScale ?? (compute == DType.F16 ? 1024.0 : 1.0);
        if (!(scale > 0) || double.IsInfinity(scale)) throw new AlpaException($"the loss scale must be a finite number > 0, got {scale}") { Field = "loss_scale" };
        Compute = compute;
        LossScale = scale;
    }

    public static PrecisionPolicy F32 { get; } = new(DType.F32);
    public static PrecisionPolicy F16 { get; } = new(DType.F16);
    public static PrecisionPolicy BF16 { get; } = new(DType.BF16);

    /// <summary>dtype of parameters, activations and gradients in the forward and backward passes.</summary>
    public DType Compute { get; }

    /// <summary>Static loss scale (1 = none): loss × scale before backward, gradients × 1/scale after.</summary>
    public double LossScale { get; }

    /// <summary>Whether an fp32 master copy of the weights is kept (half-precision compute).</summary>
    public bool MasterWeights => Compute != DType.F32;

    /// <summary>Bytes of one weight in the compute dtype.</summary>
    public int WeightBytes => Compute.Size();

    /// <summary>Bytes of one gradient element (gradients are produced in the compute dtype).</summary>
    public int GradientBytes => Compute.Size();

    /// <summary>Bytes of the fp32 master weight per parameter: 4 in half precision, else 0.</summary>
    public int MasterBytes => MasterWeights ? DType.F32.Size() : 0;

    /// <summary>Bytes per activation element: activations are held in the compute dtype.</summary>
    public int ActivationBytesPerElement => Compute.Size();

    /// <summary>Bytes of fp32 optimizer state per parameter: 8 for Adam, 4 for SGD with momentum, 0 for plain SGD.</summary>
    public static int OptimizerStateBytes(Optimizer optimizer) => optimizer.StateSlots * DType.F32.Size();

    /// <summary>Bytes per parameter of the fp32 gradient-accumulation buffer kept when microbatching (0 otherwise).</summary>
    public static int GradientAccumulationBytes(bool microbatching) => microbatching ? DType.F32.Size() : 0;

    /// <summary>
    /// Bytes per parameter of model state: weights + gradients + master + optimizer state
    /// (+ the accumulation buffer when <paramref name="microbatching"/>). Adam: 2 + 2 + 4 + 8 = 16
    /// in half precision, 4 + 4 + 8 = 16 in f32; SGD with momentum: 12 in either.
    /// </summary>
    public int BytesPerParameter(Optimizer optimizer, bool microbatching = false) =>
        WeightBytes + GradientBytes + MasterBytes + OptimizerStateBytes(optimizer) + GradientAccumulationBytes(microbatching);
}
