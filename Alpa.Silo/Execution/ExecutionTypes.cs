using Alpa.Kernels;
using Alpa.Planner;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Execution;

/// <summary>A graph could not be run as given: a missing or mis-shaped input, an unknown parameter name.</summary>
public sealed class ExecutionException : AlpaException
{
    public ExecutionException(string message) : base(message) { }
    public ExecutionException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>Options of a <see cref="GraphExecutor"/>.</summary>
public sealed record ExecutorOptions
{
    /// <summary>Seed of the parameter initialization; same seed and inputs give bit-identical results.</summary>
    public ulong Seed { get; init; } = 42;
    /// <summary>Measure the time of every node (two clock reads per node).</summary>
    public bool Profile { get; init; } = true;
    /// <summary>
    /// Parameters and states owned by another executor on the same device, by node name: used
    /// instead of allocating (and not disposed), so two programs (prefill and decode) share weights
    /// and caches. Null: none.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor>? Shared { get; init; }
}

/// <summary>Time spent in one op kind during a step.</summary>
public sealed record OpKindTime
{
    public required OpKind Op { get; init; }
    /// <summary>Nodes of this kind that ran.</summary>
    public required int Count { get; init; }
    /// <summary>Total wall time in seconds.</summary>
    public required double Seconds { get; init; }
    /// <summary>Total FLOPs of those nodes (from <see cref="Node.Flops"/>).</summary>
    public required double Flops { get; init; }
}

/// <summary>What one step of a graph produced and cost.</summary>
public sealed record StepResult
{
    /// <summary>The graph's loss, when it has one.</summary>
    public float? Loss { get; init; }
    /// <summary>The graph's outputs by node name, copied to the host.</summary>
    public required IReadOnlyDictionary<string, HostTensor> Outputs { get; init; }
    /// <summary>Wall time of each node in seconds, by node id (zeros when profiling is off).</summary>
    public required double[] NodeSeconds { get; init; }
    /// <summary>Per op kind totals, most expensive first.</summary>
    public required IReadOnlyList<OpKindTime> ByOpKind { get; init; }
    /// <summary>Wall time of the whole step in seconds.</summary>
    public required double StepSeconds { get; init; }
    /// <summary>Largest bytes held by live tensors during the step (persistent parameters and states included).</summary>
    public required long PeakLiveBytes { get; init; }
    /// <summary>Sum of the output sizes of all nodes: what the step would hold if nothing were freed.</summary>
    public required long TotalTensorBytes { get; init; }
}

internal static class DTypeMapping
{
    public static ElementType ToElementType(this DType d) => d switch
    {
        DType.F32 => ElementType.F32,
        DType.F16 => ElementType.F16,
        DType.BF16 => ElementType.BF16,
        _ => ElementType.I32,
    };
}
