using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>Which solver picks the strategies.</summary>
public enum IntraSolverKind
{
    /// <summary>The ILP, solved by COIN-OR CBC.</summary>
    Ilp,
    /// <summary>Exhaustive branch-and-bound over all choices: exact, for small graphs and tests.</summary>
    Brute,
}

/// <summary>Options of the intra-operator pass.</summary>
public sealed record IntraOptions
{
    /// <summary>Per-device memory budget in bytes over live tensors; null: unlimited.</summary>
    public double? MemoryBudgetBytes { get; init; }
    /// <summary>Solver; <see cref="IntraSolverKind.Ilp"/> by default.</summary>
    public IntraSolverKind Solver { get; init; } = IntraSolverKind.Ilp;
    /// <summary>CBC stops after this many branch-and-bound nodes (then the gap is reported). Never a wall-clock limit.</summary>
    public int NodeLimit { get; init; } = 20_000;
    /// <summary>Brute force refuses problems whose search visits more assignments than this.</summary>
    public long BruteForceLimit { get; init; } = 50_000_000;
    /// <summary>Pinned output specs (node name → spec per dim, e.g. ["R", "S1"]) of heavy ops, parameters or inputs.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>>? FixedSpecs { get; init; }
    /// <summary>Strategy ids a heavy op may not take (node name → ids): for runner-up analysis.</summary>
    public IReadOnlyDictionary<string, IReadOnlySet<string>>? ForbiddenStrategies { get; init; }
    /// <summary>
    /// Restricts the search space to a family of plans (the hand-designed baselines): strategies
    /// and parameter layouts it rejects are left out. Null: Alpa's full space.
    /// </summary>
    public IStrategyFilter? StrategyFilter { get; init; }
}

/// <summary>
/// A rule that keeps only some strategies of the intra-op space, e.g. "the data axis splits only the
/// batch dimension" for a data-parallel baseline. Must depend only on the node's structure (shape,
/// op, role) and the mesh, not on its position, so that structure-cached costs stay valid; must keep
/// at least the replicated choice.
/// </summary>
public interface IStrategyFilter
{
    /// <summary>Whether a heavy op or a leaf outside a parameter group may take <paramref name="strategy"/>.</summary>
    bool Allows(Node node, Strategy strategy, LogicalMesh mesh);

    /// <summary>Whether a parameter may be stored at <paramref name="storage"/> and updated (optimizer state kept) at <paramref name="update"/>.</summary>
    bool AllowsParameter(Node parameter, Sharding.ShardingSpec storage, Sharding.ShardingSpec update, LogicalMesh mesh);
}

/// <summary>Solver statistics of one intra-op solve. Wall-clock time is measured by the caller (the planner is pure).</summary>
public sealed record IntraStats
{
    /// <summary>Graph nodes.</summary>
    public required int Nodes { get; init; }
    /// <summary>ILP choice variables (heavy ops, leaves, parameter groups).</summary>
    public required int ChoiceVariables { get; init; }
    /// <summary>Per op kind of the variable heads: (variables, total strategies).</summary>
    public required IReadOnlyDictionary<OpKind, (int Nodes, int Strategies)> StrategiesByKind { get; init; }
    /// <summary>Largest strategy count of one variable.</summary>
    public required int MaxStrategies { get; init; }
    /// <summary>Edges with linearized variables (after folding separable ones).</summary>
    public required int Edges { get; init; }
    /// <summary>Memory rows (0 without a budget).</summary>
    public required int MemoryRows { get; init; }
    /// <summary>ILP columns and rows (0 for brute force).</summary>
    public required int IlpVariables { get; init; }
    public required int IlpConstraints { get; init; }
    /// <summary>Branch-and-bound nodes or assignments visited.</summary>
    public required long SearchNodes { get; init; }
    /// <summary>Whether optimality was proven.</summary>
    public required bool ProvenOptimal { get; init; }
    /// <summary>Relative optimality gap (0 when proven optimal).</summary>
    public required double OptimalityGap { get; init; }
    public required IntraSolverKind Solver { get; init; }
}

/// <summary>The plan of one graph on one logical mesh.</summary>
public sealed record IntraResult
{
    public required LogicalMesh Mesh { get; init; }
    /// <summary>[n0, n1].</summary>
    public int[] LogicalMeshShape => Mesh.Shape;
    /// <summary>Every heavy op (matmul class, embedding) → its strategy id.</summary>
    public required IReadOnlyDictionary<string, string> Strategies { get; init; }
    /// <summary>Every parameter → its storage spec per dim, e.g. ["R", "S1"].</summary>
    public required IReadOnlyDictionary<string, string[]> ParameterSpecs { get; init; }
    /// <summary>Every parameter with an optimizer update → the spec its update and optimizer state use.</summary>
    public required IReadOnlyDictionary<string, string[]> UpdateSpecs { get; init; }
    /// <summary>Every node → the strategy it runs (followers included).</summary>
    public required IReadOnlyDictionary<string, Strategy> NodeStrategies { get; init; }
    /// <summary>Σ per-device compute time, seconds.</summary>
    public required double ComputeSeconds { get; init; }
    /// <summary>Σ collective time of strategies plus resharding, seconds.</summary>
    public required double CommunicationSeconds { get; init; }
    /// <summary>The ILP objective (compute + communication + tie-breaks), seconds.</summary>
    public required double ObjectiveSeconds { get; init; }
    /// <summary>Peak per-device bytes over live tensors.</summary>
    public required double PeakMemoryBytes { get; init; }
    public required IntraStats Stats { get; init; }
}

/// <summary>The best logical mesh shape of a submesh and how far behind the next one is.</summary>
public sealed record MeshSearchResult
{
    public required IntraResult Best { get; init; }
    /// <summary>Objective of the runner-up shape minus the best, seconds; null with a single feasible shape.</summary>
    public double? RunnerUpGapSeconds { get; init; }
    /// <summary>Every shape tried: [n0, n1] → objective (null when infeasible under the budget).</summary>
    public required IReadOnlyList<(int[] Shape, double? ObjectiveSeconds)> Candidates { get; init; }
}
