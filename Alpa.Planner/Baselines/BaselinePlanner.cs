using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Planning;
using Alpa.Planner.Training;

namespace Alpa.Planner.Baselines;

/// <summary>Options of <see cref="BaselinePlanner.Plan"/>.</summary>
public sealed record BaselineOptions
{
    /// <summary>Largest microbatch count in the grid.</summary>
    public int MaxMicrobatches { get; init; } = 64;
    /// <summary>Intra-op solver used inside the family's constraints.</summary>
    public IntraSolverKind Solver { get; init; } = IntraSolverKind.Ilp;
    /// <summary>How the training graph is built (optimizer, precision); Remat is decided per grid point.</summary>
    public TrainingOptions Training { get; init; } = new();
    /// <summary>Pipeline schedule of the families with stages.</summary>
    public PipelineSchedule Schedule { get; init; } = PipelineSchedule.OneFOneB;
    /// <summary>Threads evaluating stage candidates (−1: all cores).</summary>
    public int MaxParallelism { get; init; } = -1;
}

/// <summary>One evaluated grid point: its plan, or why none fits.</summary>
public sealed record GridOutcome
{
    public required GridPoint Point { get; init; }
    /// <summary>The plan, simulated; null when no plan of this configuration fits device memory.</summary>
    public InterOpResult? Result { get; init; }
    /// <summary>Whether activations are recomputed (only when the configuration does not fit without).</summary>
    public bool Remat { get; init; }
    /// <summary>Why no plan exists (the stage DP's memory report).</summary>
    public string? Failure { get; init; }
    public bool Oom => Result is null;
    /// <summary>Simulated step time, seconds (∞ when out of memory).</summary>
    public double StepSeconds => Result?.Plan.StepSeconds ?? double.PositiveInfinity;
}

/// <summary>The best plan of a family and the grid searched for it.</summary>
public sealed record BaselineResult
{
    public required BaselineMethod Method { get; init; }
    /// <summary>Every grid point evaluated, in the order evaluated.</summary>
    public required IReadOnlyList<GridOutcome> Grid { get; init; }
    /// <summary>The grid point with the least stage-DP objective that fits; null when none does.</summary>
    public GridOutcome? Best { get; init; }
    /// <summary>Intra-op solves performed (distinct layer structures × meshes × microbatch sizes).</summary>
    public required int IntraSolves { get; init; }
    /// <summary>No configuration of the family fits device memory (the paper's charts mark it "OOM").</summary>
    public bool Oom => Best is null;
}

/// <summary>
/// The hand-designed baselines as constrained runs of Alpa's own machinery: the same per-layer
/// intra-op ILP and cost model (restricted to the family's strategies by a <see cref="IStrategyFilter"/>),
/// the same stage DP (allowed only the family's stage ranges, submesh and logical mesh), the same
/// instruction emitter and simulator. Each grid point is planned with activation recomputation only
/// when it does not fit without. Pure: no clock.
/// </summary>
public static class BaselinePlanner
{
    public static BaselineResult Plan(BaselineMethod method, ModelSpec model, ClusterSpec cluster, BaselineOptions? options = null,
                                      IProgress<GridOutcome>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(cluster);
        options ??= new BaselineOptions();
        cluster.Validate();
        var blocks = model.LayerCount - 2;
        if (blocks < 1)
            throw new InterOpException($"model '{model.Name}' has no blocks between its first and last layer: the baselines stage blocks") { Field = "model" };
        var space = new FamilySpace(model, cluster, options);
        var outcomes = new List<GridOutcome>();
        var fitted = new HashSet<(int, int, int, ZeroStage)>();
        foreach (var point in BaselineGrid.Points(method, cluster.Hosts, cluster.DevicesPerHost, blocks, model.Batch, options.MaxMicrobatches))
        {
            // Without a pipeline more microbatches only split the same work finer: the fewest that fit
            // without recomputation win (with recomputation a larger count may still fit without it).
            var config = (point.Data, point.Tensor, point.Pipeline, point.Zero);
            if (point.Pipeline == 1 && fitted.Contains(config)) continue;
            var outcome = Evaluate(method, point, space, blocks);
            outcomes.Add(outcome);
            progress?.Report(outcome);
            if (!outcome.Oom && !outcome.Remat) fitted.Add(config);
        }
        // Ranked as alpa plan ranks its candidates: by the stage DP's objective (simulated step breaks ties).
        var best = outcomes.Where(o => !o.Oom).OrderBy(o => o.Result!.Plan.DpObjectiveSeconds).ThenBy(o => o.StepSeconds).FirstOrDefault();
        return new BaselineResult { Method = method, Grid = outcomes, Best = best, IntraSolves = space.Solves };
    }

    private static GridOutcome Evaluate(BaselineMethod method, GridPoint point, FamilySpace space, int blocks)
    {
        var ranges = BaselineGrid.EqualStages(blocks, point.Pipeline).ToHashSet();
        var submesh = BaselineGrid.StageSubmesh(point.StageDevices, space.Cluster.DevicesPerHost);
        var mesh = new LogicalMeshShape(point.Data, point.Tensor);
        bool Allowed(StageKey k) => k.Submesh == submesh && k.Mesh == mesh && ranges.Contains((k.First, k.Last));
        string? failure = null;
        foreach (var remat in new[] { false, true })
        {
            var costs = space.Costs(remat, Filter(method, point, space, remat));
            var problem = new InterOpProblem
            {
                GraphHash = space.GraphHash(remat),
                Cluster = AutoPlanner.ToInterOp(space.Cluster),
                Costs = new RestrictedStages(costs, Allowed),
                MicrobatchCandidates = InterOpPass.Divisors(space.Model.Batch),
            };
            var inter = new InterOpOptions
            {
                Schedule = space.Options.Schedule,
                Microbatches = point.Microbatches,
                MaxParallelism = space.Options.MaxParallelism,
            };
            try
            {
                return new GridOutcome { Point = point, Result = InterOpPass.Plan(problem, inter), Remat = remat };
            }
            catch (InterOpException e) when (e.Field == "memory")
            {
                failure = e.Message;
            }
        }
        return new GridOutcome { Point = point, Remat = true, Failure = failure };
    }

    private static (string Key, IStrategyFilter Filter) Filter(BaselineMethod method, GridPoint point, FamilySpace space, bool remat)
    {
        if (method == BaselineMethod.Heuristic) return ("heuristic", new LargestDimFilter());
        var expert = method == BaselineMethod.DeepSpeed && space.Model is MoeSpec;
        return ($"zero{(int)point.Zero}/ep{expert}", new FamilyFilter(space.Roles(remat), point.Zero, expert));
    }
}
