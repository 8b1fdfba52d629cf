using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Baselines;

/// <summary>How a data-parallel family treats parameters and optimizer state (ZeRO stages).</summary>
public enum ZeroStage
{
    /// <summary>Replicated parameters, gradients all-reduced, replicated optimizer state.</summary>
    None = 0,
    /// <summary>ZeRO-2: replicated parameters; gradients reduce-scattered; optimizer state and update sharded over the data axis.</summary>
    Two = 2,
    /// <summary>ZeRO-3: parameters, gradients and optimizer state all sharded over the data axis (gathered before use).</summary>
    Three = 3,
}

/// <summary>
/// The strategies of a hand-designed family on a logical mesh whose axis 0 is the data-parallel
/// axis and axis 1 the tensor-parallel axis (Megatron-LM's layout: axis 1 runs over consecutive
/// devices of one host). The data axis may split a tensor only along its batch dimension (or its
/// expert dimension with expert parallelism; weights and gradients too with ZeRO); the tensor axis
/// may split anything but the batch dimension, the intra-op ILP choosing how (for GPT blocks that is
/// Megatron's column/row partition). Within the family the same ILP and cost model pick the plan.
/// </summary>
public sealed class FamilyFilter(TensorRoles roles, ZeroStage zero, bool expertParallel) : IStrategyFilter
{
    public ZeroStage Zero { get; } = zero;
    public bool ExpertParallel { get; } = expertParallel;

    public bool Allows(Node node, Strategy strategy, LogicalMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(strategy);
        if (!TensorAllowed(node, strategy.Output)) return false;
        if (node.Op is OpKind.Parameter or OpKind.State && !ZeroLeafAllowed(node, strategy.Output, mesh)) return false;
        for (var i = 0; i < strategy.Inputs.Count && i < node.Inputs.Count; i++)
            if (!TensorAllowed(node.Inputs[i], strategy.Inputs[i])) return false;
        return true;
    }

    public bool AllowsParameter(Node parameter, ShardingSpec storage, ShardingSpec update, LogicalMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ArgumentNullException.ThrowIfNull(storage);
        ArgumentNullException.ThrowIfNull(update);
        var expert = ExpertParallel ? roles.ExpertDim(parameter.Name) : -1;
        for (var d = 0; d < storage.Rank; d++)
        {
            var s = ShardingSpec.Mask(storage[d]);
            var u = ShardingSpec.Mask(update[d]);
            // The data axis never splits a stored parameter except its expert dimension or under ZeRO-3.
            if ((s & 1) != 0 && d != expert && Zero != ZeroStage.Three) return false;
            // Without ZeRO the update (optimizer state) is laid out as the parameter.
            if ((u & 1) != 0 && (s & 1) == 0 && Zero == ZeroStage.None) return false;
        }
        if (Zero == ZeroStage.None || mesh.N0 == 1) return true;
        // ZeRO shards whatever the data axis divides: the update (stage 2), storage too (stage 3).
        var divisible = parameter.Shape.Any(n => n % mesh.N0 == 0);
        if (divisible && (update.UsedAxes & 1) == 0) return false;
        return Zero != ZeroStage.Three || storage.Equals(update);
    }

    /// <summary>
    /// ZeRO leaf by leaf, for half-precision training: the optimizer then runs on fp32 master copies
    /// (states), which the intra-op pass does not group with their parameter, so
    /// <see cref="AllowsParameter"/> never sees them. ZeRO-2 keeps the half-precision weights whole on
    /// the data axis and shards the master weights and moments over it; ZeRO-3 shards the weights
    /// too (gathered before each use). Without this both stages left every layout open and tied.
    /// </summary>
    private static readonly string[] OptimizerStateSuffixes =
        [Training.TrainingGraph.MasterSuffix, Training.TrainingGraph.AdamMSuffix, Training.TrainingGraph.AdamVSuffix, Training.TrainingGraph.MomentumSuffix];

    private bool ZeroLeafAllowed(Node leaf, ShardingSpec spec, LogicalMesh mesh)
    {
        if (Zero == ZeroStage.None || mesh.N0 == 1) return true;
        if (leaf.Op == OpKind.State && !OptimizerStateSuffixes.Any(x => leaf.Name.EndsWith(x, StringComparison.Ordinal))) return true;
        var expert = ExpertParallel ? roles.ExpertDim(leaf.Name) : -1;
        var onData = Enumerable.Range(0, spec.Rank).Any(d => d != expert && (ShardingSpec.Mask(spec[d]) & 1) != 0);
        var shardable = leaf.Shape.Any(n => n % mesh.N0 == 0);
        var mustShard = leaf.Op == OpKind.State || Zero == ZeroStage.Three;
        return mustShard ? onData || !shardable || (spec.UsedAxes & 1) != 0 : !onData;
    }

    /// <summary>Whether <paramref name="spec"/> is a layout the family gives tensor <paramref name="t"/>.</summary>
    private bool TensorAllowed(Node t, ShardingSpec spec)
    {
        var batch = roles.BatchDim(t.Name);
        var expert = ExpertParallel ? roles.ExpertDim(t.Name) : -1;
        for (var d = 0; d < spec.Rank; d++)
        {
            var mask = ShardingSpec.Mask(spec[d]);
            if (mask == 0) continue;
            var dataOk = d == batch || d == expert || (batch < 0 && Zero != ZeroStage.None);
            if ((mask & 1) != 0 && !dataOk) return false;
            if ((mask & 2) != 0 && d == batch) return false;
        }
        return true;
    }
}

/// <summary>
/// The paper's intra-op ablation heuristic (§8.3): on a 1-D mesh every heavy op shards the largest
/// dimension of its output that the mesh divides (replicated when none does) and every parameter
/// is stored and updated sharded along its largest such dimension; the other ops follow their
/// operands (propagation).
/// </summary>
public sealed class LargestDimFilter : IStrategyFilter
{
    public bool Allows(Node node, Strategy strategy, LogicalMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(strategy);
        ArgumentNullException.ThrowIfNull(mesh);
        return node.IsLeaf && node.Op != OpKind.Parameter || strategy.Output.Equals(Largest(node.Shape, mesh));
    }

    public bool AllowsParameter(Node parameter, ShardingSpec storage, ShardingSpec update, LogicalMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        ArgumentNullException.ThrowIfNull(storage);
        var want = Largest(parameter.Shape, mesh);
        return storage.Equals(want) && want.Equals(update);
    }

    /// <summary>The largest dimension divisible by all devices split over both mesh axes; replicated when none is.</summary>
    public static ShardingSpec Largest(Shape shape, LogicalMesh mesh)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(mesh);
        var dims = new DimSharding[shape.Rank];
        var best = -1;
        for (var d = 0; d < shape.Rank; d++)
            if (shape[d] % mesh.Devices == 0 && (best < 0 || shape[d] > shape[best])) best = d;
        if (best >= 0 && mesh.Devices > 1)
            dims[best] = mesh.N0 > 1 && mesh.N1 > 1 ? DimSharding.S01 : mesh.N0 > 1 ? DimSharding.S0 : DimSharding.S1;
        return ShardingSpec.Create(dims);
    }
}
