using System.Globalization;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Intra;

/// <summary>
/// The intra-operator pass [Alpa §4]: chooses a sharding strategy for every op of a (training)
/// graph on a 2-D logical mesh, minimizing per-device compute + communication + resharding time
/// under an optional per-device memory budget. Pure: same inputs, same plan.
/// </summary>
public static class IntraOpPass
{
    /// <summary>Plans <paramref name="graph"/> on one logical mesh.</summary>
    public static IntraResult Run(Graph.Graph graph, LogicalMesh mesh, IntraOptions? options = null) =>
        Solve(Prepare(graph, mesh, options));

    /// <summary>
    /// First half of <see cref="Run"/>: enumerates strategies and builds the ILP (no solving), so that a
    /// caller can time the two halves apart (the planner itself has no clock).
    /// </summary>
    public static PreparedIntra Prepare(Graph.Graph graph, LogicalMesh mesh, IntraOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(mesh);
        options ??= new IntraOptions();
        if (graph.Nodes.Count == 0) throw new IntraOpException("the graph has no nodes: nothing to plan");
        if (options.MemoryBudgetBytes is <= 0)
            throw new IntraOpException($"the memory budget must be positive, got {options.MemoryBudgetBytes} bytes") { Field = "memory_budget" };
        var builder = new ProblemBuilder(graph, mesh, options);
        return new PreparedIntra(graph, mesh, options, builder, builder.Build());
    }

    /// <summary>Second half of <see cref="Run"/>: solves a prepared problem.</summary>
    public static IntraResult Solve(PreparedIntra prepared)
    {
        ArgumentNullException.ThrowIfNull(prepared);
        var (graph, mesh, options, builder, problem) = (prepared.Graph, prepared.Mesh, prepared.Options, prepared.Builder, prepared.Problem);
        var outcome = Solve(problem, options.MemoryBudgetBytes, options)
            ?? throw OverBudget(problem, mesh, options);
        return Result(graph, mesh, options, builder, problem, outcome);
    }

    /// <summary>
    /// Tries every logical mesh shape (n0, n1) of the submesh's devices and returns the best, with
    /// the runner-up's cost gap. Shapes where no plan fits the memory budget are skipped; when none
    /// fits, the error of the shape that comes closest is thrown.
    /// </summary>
    public static MeshSearchResult RunAllShapes(Graph.Graph graph, ClusterSpec submesh, IntraOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(submesh);
        var candidates = new List<(int[] Shape, double? ObjectiveSeconds)>();
        IntraResult? best = null;
        double? runnerUp = null;
        MemoryBudgetException? closest = null;
        foreach (var mesh in LogicalMesh.AllShapes(submesh))
        {
            try
            {
                var r = Run(graph, mesh, options);
                candidates.Add((mesh.Shape, r.ObjectiveSeconds));
                if (best is null || r.ObjectiveSeconds < best.ObjectiveSeconds)
                {
                    if (best is not null) runnerUp = Math.Min(runnerUp ?? double.PositiveInfinity, best.ObjectiveSeconds);
                    best = r;
                }
                else
                {
                    runnerUp = Math.Min(runnerUp ?? double.PositiveInfinity, r.ObjectiveSeconds);
                }
            }
            catch (MemoryBudgetException e)
            {
                candidates.Add((mesh.Shape, null));
                if (closest is null || e.MinimumBytes < closest.MinimumBytes) closest = e;
            }
        }
        if (best is null) throw closest!;
        return new MeshSearchResult
        {
            Best = best,
            RunnerUpGapSeconds = runnerUp - best.ObjectiveSeconds,
            Candidates = candidates,
        };
    }

    private static SolverOutcome? Solve(IntraProblem problem, double? budget, IntraOptions options) => options.Solver switch
    {
        IntraSolverKind.Brute => new BruteForceSolver(problem, options.BruteForceLimit).Solve(budget),
        _ => IlpSolver.Solve(problem, budget, options.NodeLimit),
    };

    private static MemoryBudgetException OverBudget(IntraProblem problem, LogicalMesh mesh, IntraOptions options)
    {
        var budget = options.MemoryBudgetBytes!.Value;
        var minimum = options.Solver == IntraSolverKind.Brute
            ? new BruteForceSolver(problem, options.BruteForceLimit).MinimumPeakMemory()
            : IlpSolver.MinimumPeakMemory(problem, options.NodeLimit);
        var fastest = Solve(problem, null, options)!;
        var fastestPeak = problem.PeakMemory(fastest.Choice);
        return new MemoryBudgetException(
            $"no plan fits the per-device memory budget of {Gib(budget)} on mesh ({mesh.N0}, {mesh.N1}): " +
            $"the best plan needs at least {Gib(minimum)} per device (the fastest plan without a budget needs {Gib(fastestPeak)}); " +
            "raise --memory-budget or plan on more devices",
            budget, minimum, fastestPeak) { Field = "memory_budget" };
    }

    private static string Gib(double bytes) => (bytes / (1L << 30)).ToString("0.###", CultureInfo.InvariantCulture) + " GiB";

    private static IntraResult Result(Graph.Graph graph, LogicalMesh mesh, IntraOptions options, ProblemBuilder b,
        IntraProblem problem, SolverOutcome outcome)
    {
        var strategies = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var paramSpecs = new SortedDictionary<string, string[]>(StringComparer.Ordinal);
        var updateSpecs = new SortedDictionary<string, string[]>(StringComparer.Ordinal);
        var nodeStrategies = new Dictionary<string, Strategy>(StringComparer.Ordinal);
        var compute = 0.0;
        foreach (var n in graph.Nodes)
        {
            var k = outcome.Choice[b.VarOf[n.Id]];
            var s = b.Choice[n.Id][k];
            nodeStrategies[n.Name] = s;
            compute += s.ComputeSeconds;
            if (ProblemBuilder.IsHeavy(n)) strategies[n.Name] = s.Id;
            if (n.Op == OpKind.Parameter)
            {
                paramSpecs[n.Name] = s.Output.ToStrings();
                if (b.PairsOf(n) is { } pairs) updateSpecs[n.Name] = pairs[k].U.ToStrings();
            }
        }
        var tieBreaks = 0.0;
        for (var v = 0; v < problem.Variables; v++) tieBreaks += ProblemBuilder.TieBreakSeconds * outcome.Choice[v];
        var objective = problem.Objective(outcome.Choice);
        return new IntraResult
        {
            Mesh = mesh,
            Strategies = strategies,
            ParameterSpecs = paramSpecs,
            UpdateSpecs = updateSpecs,
            NodeStrategies = nodeStrategies,
            ComputeSeconds = compute,
            CommunicationSeconds = Math.Max(0, objective - compute - tieBreaks),
            ObjectiveSeconds = objective,
            PeakMemoryBytes = problem.PeakMemory(outcome.Choice),
            Stats = Stats(graph, b, problem, outcome, options),
        };
    }

    private static IntraStats Stats(Graph.Graph graph, ProblemBuilder b, IntraProblem problem, SolverOutcome outcome, IntraOptions options)
    {
        var byKind = new SortedDictionary<OpKind, (int Nodes, int Strategies)>();
        for (var v = 0; v < b.Heads.Count; v++)
        {
            var op = b.Heads[v].Op;
            var (nodes, total) = byKind.GetValueOrDefault(op);
            byKind[op] = (nodes + 1, total + b.Counts[v]);
        }
        return new IntraStats
        {
            Nodes = graph.Nodes.Count,
            ChoiceVariables = problem.Variables,
            StrategiesByKind = byKind,
            MaxStrategies = problem.Counts.Max(),
            Edges = problem.Edges.Count,
            MemoryRows = options.MemoryBudgetBytes is null ? 0 : problem.MemoryRows.Count,
            IlpVariables = outcome.IlpVariables,
            IlpConstraints = outcome.IlpConstraints,
            SearchNodes = outcome.SearchNodes,
            ProvenOptimal = outcome.ProvenOptimal,
            OptimalityGap = outcome.Gap,
            Solver = options.Solver,
        };
    }
}

/// <summary>A graph whose strategies are enumerated and whose ILP is built, ready for <see cref="IntraOpPass.Solve(PreparedIntra)"/>.</summary>
public sealed class PreparedIntra
{
    internal PreparedIntra(Graph.Graph graph, LogicalMesh mesh, IntraOptions options, ProblemBuilder builder, IntraProblem problem)
    {
        Graph = graph;
        Mesh = mesh;
        Options = options;
        Builder = builder;
        Problem = problem;
    }

    public Graph.Graph Graph { get; }
    public LogicalMesh Mesh { get; }
    public IntraOptions Options { get; }
    /// <summary>The ILP in plain arrays.</summary>
    public IntraProblem Problem { get; }
    internal ProblemBuilder Builder { get; }
}
