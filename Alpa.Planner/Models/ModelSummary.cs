namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;
using Alpa.Planner.Training;

/// <summary>One row of a model's per-layer table.</summary>
/// <param name="Index">Layer index as marked on the graph's nodes.</param>
/// <param name="Name">Human name (<c>embed</c>, <c>block 3</c>, <c>head</c>).</param>
/// <param name="Parameters">Trainable scalars created in this layer.</param>
/// <param name="ForwardFlops">FLOPs of one forward pass over the global batch.</param>
/// <param name="ActivationBytes">Bytes of the layer's forward outputs for one microbatch (see <see cref="ModelSummary.ActivationBytes"/>).</param>
public sealed record LayerSummary(int Index, string Name, long Parameters, double ForwardFlops, long ActivationBytes);

/// <summary>Memory of training under the precision policy, in bytes.</summary>
public sealed record MemoryBreakdown
{
    /// <summary>Parameters in the compute dtype.</summary>
    public required long Weights { get; init; }
    /// <summary>Gradients in the compute dtype.</summary>
    public required long Gradients { get; init; }
    /// <summary>fp32 master weights (half-precision training only; 0 for f32).</summary>
    public required long MasterWeights { get; init; }
    /// <summary>Adam's two fp32 moments: 8 bytes per parameter.</summary>
    public required long OptimizerState { get; init; }
    /// <summary>fp32 gradient-accumulation buffers (half precision with more than one microbatch; else 0).</summary>
    public required long GradientAccumulation { get; init; }
    /// <summary>Forward activations of one microbatch (see <see cref="ModelSummary.ActivationBytes"/>).</summary>
    public required long Activations { get; init; }
    public long Total => Weights + Gradients + MasterWeights + OptimizerState + GradientAccumulation + Activations;
}

/// <summary>What <c>alpa model</c> reports: size, step FLOPs, memory and a per-layer table.</summary>
public sealed record ModelSummary
{
    public required string Name { get; init; }
    public required string Family { get; init; }
    public required DType DType { get; init; }
    /// <summary>Trainable scalars.</summary>
    public required long Parameters { get; init; }
    /// <summary>Global batch.</summary>
    public required int Batch { get; init; }
    /// <summary>Microbatches the activation figures are computed for (batch / microbatches samples each).</summary>
    public required int Microbatches { get; init; }
    /// <summary>Nodes of the forward graph.</summary>
    public required int Nodes { get; init; }
    /// <summary>FLOPs of one forward pass over the global batch.</summary>
    public required double ForwardFlops { get; init; }
    /// <summary>FLOPs of one training step (forward + backward) without rematerialization.</summary>
    public required double FlopsPerStep { get; init; }
    /// <summary>FLOPs of one training step when every layer but the head is recomputed in the backward pass.</summary>
    public required double FlopsPerStepRemat { get; init; }
    public required MemoryBreakdown Memory { get; init; }
    public required IReadOnlyList<LayerSummary> Layers { get; init; }

    /// <summary>
    /// Summarizes <paramref name="spec"/>. Activations are the outputs of the forward graph's non-leaf
    /// nodes for one microbatch of batch / <paramref name="microbatches"/> samples, views (reshape)
    /// excluded: what the backward pass keeps without rematerialization.
    /// </summary>
    public static ModelSummary Of(ModelSpec spec, int microbatches = 1)
    {
        if (microbatches <= 0 || spec.Batch % microbatches != 0)
            throw new AlpaException($"microbatches: {microbatches} does not divide the global batch {spec.Batch}") { Field = "microbatches" };
        var full = spec.Build();
        var micro = microbatches == 1 ? full : spec.Build(spec.Batch / microbatches);
        var layerCount = Math.Max(spec.LayerCount, full.Nodes.Max(n => n.Layer) + 1);
        var parameters = new long[layerCount];
        var flops = new double[layerCount];
        var activations = new long[layerCount];
        foreach (var n in full.Nodes)
        {
            var l = Math.Max(0, n.Layer);
            flops[l] += n.Flops;
            if (n.Op == OpKind.Parameter) parameters[l] += n.Shape.Elements;
        }
        foreach (var n in micro.Nodes) activations[Math.Max(0, n.Layer)] += ActivationBytes(n);

        var forward = full.Flops;
        var p = full.ParameterCount;
        return new ModelSummary
        {
            Name = spec.Name, Family = spec.Family, DType = spec.DType, Parameters = p, Batch = spec.Batch,
            Microbatches = microbatches, Nodes = full.Nodes.Count, ForwardFlops = forward,
            FlopsPerStep = TrainingGraph.Build(full, new TrainingOptions()).Flops,
            FlopsPerStepRemat = TrainingGraph.Build(full, new TrainingOptions { Remat = true }).Flops,
            Memory = MemoryOf(p, spec.DType, microbatches, activations.Sum()),
            Layers = [.. Enumerable.Range(0, layerCount).Select(i => new LayerSummary(i, spec.LayerName(i), parameters[i], flops[i], activations[i]))],
        };
    }

    /// <summary>Bytes a node's output keeps alive for the backward pass: non-leaf, non-view forward nodes.</summary>
    public static long ActivationBytes(Node n) =>
        n.IsLeaf || n.Op == OpKind.Reshape || n.Phase != Phase.Forward ? 0 : n.OutputBytes;

    /// <summary>
    /// The precision policy's memory: half precision keeps weights and gradients in f16/bf16 plus fp32
    /// master weights and fp32 Adam moments (2 + 2 + 4 + 8 = 16 bytes per parameter); f32 keeps
    /// 4 + 4 + 8 = 16 bytes. Half precision with microbatching adds an fp32 gradient accumulator.
    /// </summary>
    public static MemoryBreakdown MemoryOf(long parameters, DType dtype, int microbatches, long activations)
    {
        var policy = new PrecisionPolicy(dtype);
        var adam = new Adam();
        return new MemoryBreakdown
        {
            Weights = parameters * policy.WeightBytes,
            Gradients = parameters * policy.GradientBytes,
            MasterWeights = parameters * policy.MasterBytes,
            OptimizerState = parameters * PrecisionPolicy.OptimizerStateBytes(adam),
            GradientAccumulation = policy.MasterWeights ? parameters * PrecisionPolicy.GradientAccumulationBytes(microbatches > 1) : 0,
            Activations = activations,
        };
    }
}
