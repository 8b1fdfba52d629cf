using System.Collections.Concurrent;
using Alpa.Planner.Cluster;
using Alpa.Planner.Inter;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Planning;
using Alpa.Planner.Plans;
using Alpa.Planner.Training;

namespace Alpa.Planner.Baselines;

/// <summary>
/// What the grid points of one baseline run share: the forward graph cut at its marked layers, the
/// tensor roles and graph hash per recomputation setting, and one <see cref="IntraStageCosts"/> per
/// (recomputation, strategy filter) whose per-microbatch cost models are kept, so that a layer
/// structure is solved once per mesh and microbatch size across the whole grid.
/// </summary>
internal sealed class FamilySpace
{
    private readonly Graph.Graph _forward;
    private readonly LayerClusteringResult _clustering;
    private readonly Dictionary<bool, TensorRoles> _roles = [];
    private readonly Dictionary<bool, string> _hashes = [];
    private readonly Dictionary<(bool, string), (IntraStageCosts Costs, CachedStages Cached)> _costs = [];

    public FamilySpace(ModelSpec model, ClusterSpec cluster, BaselineOptions options)
    {
        Model = model;
        Cluster = cluster;
        Options = options;
        _forward = model.Build();
        // Every marked layer is a layer of its own: the families cut stages at block boundaries.
        _clustering = LayerClustering.Cluster(_forward, new LayerClusteringOptions { UseMarkedLayers = true, Layers = model.LayerCount });
    }

    public ModelSpec Model { get; }
    public ClusterSpec Cluster { get; }
    /// <summary>The forward graph at the global batch; its marked layers are the layers of every stage range.</summary>
    public Graph.Graph Forward => _forward;
    public BaselineOptions Options { get; }

    /// <summary>Intra-op solves performed so far.</summary>
    public int Solves => _costs.Values.Sum(c => c.Costs.Solves);

    private TrainingOptions Training(bool remat) => Options.Training with { Remat = remat };

    public TensorRoles Roles(bool remat)
    {
        if (!_roles.TryGetValue(remat, out var roles)) _roles[remat] = roles = TensorRoles.Detect(Model, Training(remat));
        return roles;
    }

    public string GraphHash(bool remat)
    {
        if (!_hashes.TryGetValue(remat, out var hash))
            _hashes[remat] = hash = GraphHashing.Compute(TrainingGraph.Build(_forward, Training(remat)));
        return hash;
    }

    /// <summary>Stage costs under a strategy filter; <paramref name="filter"/>'s key names it for reuse.</summary>
    public IStageCostProvider Costs(bool remat, (string Key, IStrategyFilter? Filter) filter)
    {
        if (_costs.TryGetValue((remat, filter.Key), out var found)) return found.Cached;
        var training = Training(remat);
        var intra = new IntraOptions { Solver = Options.Solver, StrategyFilter = filter.Filter };
        var costs = new IntraStageCosts(b => TrainingGraph.Build(Model.Build(b), training), Model.Batch, Cluster, _forward, _clustering, intra);
        var cached = new CachedStages(costs);
        _costs[(remat, filter.Key)] = (costs, cached);
        return cached;
    }
}

/// <summary>Keeps the cost model of each microbatch count (and with it the structure cache of its solves).</summary>
internal sealed class CachedStages(IStageCostProvider inner) : IStageCostProvider
{
    private readonly ConcurrentDictionary<int, Lazy<IStageCostModel>> _models = new();

    public IStageCostModel ForMicrobatches(int microbatches) =>
        _models.GetOrAdd(microbatches, b => new Lazy<IStageCostModel>(() => inner.ForMicrobatches(b))).Value;
}

/// <summary>Only the stage candidates a family allows are feasible; the others cost nothing to reject.</summary>
internal sealed class RestrictedStages(IStageCostProvider inner, Func<StageKey, bool> allowed) : IStageCostProvider
{
    public IStageCostModel ForMicrobatches(int microbatches) => new Model(inner.ForMicrobatches(microbatches), allowed);

    private sealed class Model(IStageCostModel inner, Func<StageKey, bool> allowed) : IStageCostModel
    {
        public int LayerCount => inner.LayerCount;
        public long TransferBytes(int producer, int consumer) => inner.TransferBytes(producer, consumer);
        public IReadOnlyList<PlanTensor> TransferTensors(int producer, int consumer) => inner.TransferTensors(producer, consumer);
        public StageCost Evaluate(StageKey key) => allowed(key) ? inner.Evaluate(key) : StageCost.Infeasible;
    }
}
