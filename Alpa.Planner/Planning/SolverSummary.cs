using Alpa.Planner.Intra;

namespace Alpa.Planner.Planning;

/// <summary>What the intra-op solves of a planning run looked like, summed over every solve.</summary>
public sealed record SolverSummary
{
    /// <summary>Intra-op solves (distinct layer structures × meshes × microbatch sizes).</summary>
    public int Solves { get; init; }
    /// <summary>Solves whose optimum CBC proved (the rest stopped at the node limit).</summary>
    public int ProvenOptimal { get; init; }
    /// <summary>Largest relative optimality gap of any solve.</summary>
    public double MaxGap { get; init; }
    /// <summary>Largest ILP of the run: columns and rows.</summary>
    public int MaxIlpVariables { get; init; }
    public int MaxIlpConstraints { get; init; }
    /// <summary>Average strategies per ILP choice variable over all solves.</summary>
    public double StrategiesPerVariable { get; init; }
    /// <summary>Branch-and-bound nodes over all solves.</summary>
    public long SearchNodes { get; init; }

    public static SolverSummary Of(IReadOnlyCollection<IntraStats> stats) => stats.Count == 0 ? new() : new()
    {
        Solves = stats.Count,
        ProvenOptimal = stats.Count(s => s.ProvenOptimal),
        MaxGap = stats.Max(s => s.OptimalityGap),
        MaxIlpVariables = stats.Max(s => s.IlpVariables),
        MaxIlpConstraints = stats.Max(s => s.IlpConstraints),
        StrategiesPerVariable = (double)stats.Sum(s => s.StrategiesByKind.Values.Sum(v => v.Strategies)) /
                                Math.Max(1, stats.Sum(s => s.StrategiesByKind.Values.Sum(v => v.Nodes))),
        SearchNodes = stats.Sum(s => s.SearchNodes),
    };
}
