using System.Collections.Concurrent;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Intra;

namespace Alpa.Planner.Planning;

using Graph = Alpa.Planner.Graph.Graph;

/// <summary>
/// Stage costs from the intra-operator pass [Alpa §5.2]: for a stage (a range of clustered layers)
/// on a logical mesh, every marked model layer of the range is planned by <see cref="IntraOpPass"/>
/// on that mesh and the stage costs are their sum. Layers with the same structure (GPT blocks) are
/// solved once per mesh and microbatch size. Simplification (documented in the plan notes): the
/// layers of a stage are planned one by one on the same mesh, so a resharding between two layers
/// of one stage is not charged.
/// </summary>
public sealed class IntraStageCosts : IStageCostProvider
{
    private readonly Func<int, Graph> _trainingGraphForMicrobatch;
    private readonly ClusterSpec _cluster;
    private readonly int[] _clusterOfLayer;
    private readonly int _layers;
    private readonly LayerClusteringResult _clustering;
    private readonly IntraOptions _options;

    /// <param name="trainingGraphForMicrobatch">Builds the training graph of one microbatch of the given size.</param>
    /// <param name="clustering">Clustered layers of the forward graph (marked layers grouped).</param>
    /// <param name="forward">The forward graph the clustering was made on.</param>
    public IntraStageCosts(Func<int, Graph> trainingGraphForMicrobatch, int globalBatch, ClusterSpec cluster,
                           Graph forward, LayerClusteringResult clustering, IntraOptions? options = null)
    {
        _trainingGraphForMicrobatch = trainingGraphForMicrobatch;
        GlobalBatch = globalBatch;
        _cluster = cluster;
        _clustering = clustering;
        _layers = clustering.LayerCount;
        _options = options ?? new IntraOptions();
        _clusterOfLayer = ClusterOfMarkedLayer(forward, clustering);
    }

    /// <summary>For each marked layer of <paramref name="forward"/>, the clustered layer holding it (−1: none).</summary>
    public static int[] ClusterOfMarkedLayer(Graph forward, LayerClusteringResult clustering)
    {
        ArgumentNullException.ThrowIfNull(forward);
        ArgumentNullException.ThrowIfNull(clustering);
        var cluster = Enumerable.Repeat(-1, forward.Nodes.Max(n => n.Layer) + 1).ToArray();
        foreach (var n in forward.Nodes)
            if (n.Layer >= 0 && clustering.NodeLayer[n.Id] >= 0) cluster[n.Layer] = Math.Max(cluster[n.Layer], clustering.NodeLayer[n.Id]);
        return cluster;
    }

    public int GlobalBatch { get; }

    private readonly ConcurrentBag<IntraStats> _stats = [];
    private readonly ConcurrentDictionary<int, double> _leastMemoryByLayer = new();

    /// <summary>
    /// When the memory budget made layers infeasible: the layer that needs the most memory even on
    /// its best mesh, and how much (per device). Null when the budget never bound.
    /// </summary>
    public (int Layer, double Bytes)? TightestLayer =>
        _leastMemoryByLayer.IsEmpty ? null : _leastMemoryByLayer.MaxBy(kv => kv.Value) is var kv ? (kv.Key, kv.Value) : null;

    /// <summary>Intra-op solves performed (distinct layer structures × meshes), for reports.</summary>
    public int Solves => _stats.Count;

    /// <summary>Solver statistics over every solve so far.</summary>
    public SolverSummary Summary => SolverSummary.Of(_stats.ToArray());

    public IStageCostModel ForMicrobatches(int microbatches)
    {
        if (GlobalBatch % microbatches != 0)
            throw new InterOpException($"{microbatches} microbatches do not split the global batch {GlobalBatch}") { Field = "microbatches" };
        var graph = _trainingGraphForMicrobatch(GlobalBatch / microbatches);
        var subgraphs = LayerSubgraph.Split(graph);
        var byCluster = Enumerable.Range(0, _layers).Select(_ => new List<LayerSubgraph>()).ToArray();
        foreach (var s in subgraphs)
        {
            var c = s.Layer < _clusterOfLayer.Length ? _clusterOfLayer[s.Layer] : -1;
            byCluster[c >= 0 ? c : _layers - 1].Add(s);
        }
        return new Model(this, byCluster, microbatches);
    }

    private sealed class Model(IntraStageCosts owner, List<LayerSubgraph>[] layers, int microbatches) : IStageCostModel
    {
        private readonly ConcurrentDictionary<(string Signature, SubmeshShape Sub, LogicalMeshShape Mesh), Lazy<LayerCost>> _cache = new();

        public int LayerCount => owner._layers;

        /// <summary>The clustering counted boundary bytes at the global batch; one microbatch carries 1/B of them.</summary>
        public long TransferBytes(int producer, int consumer) => owner._clustering.TransferBytes(producer, consumer) / microbatches;

        public StageCost Evaluate(StageKey key)
        {
            var parts = new List<(LayerSubgraph Layer, LayerCost Cost)>();
            for (var c = key.First; c <= key.Last; c++)
            {
                foreach (var s in layers[c])
                {
                    var cost = _cache.GetOrAdd((s.Signature, key.Submesh, key.Mesh),
                        k => new Lazy<LayerCost>(() => owner.Solve(s, k.Sub, k.Mesh))).Value;
                    if (cost.Infeasible) return StageCost.Infeasible;
                    parts.Add((s, cost));
                }
            }
            return LayerCost.Combine(parts);
        }
    }

    private LayerCost Solve(LayerSubgraph layer, SubmeshShape sub, LogicalMeshShape shape)
    {
        var spec = _cluster.WithShape(sub.Hosts, sub.Devices);
        var mesh = LogicalMesh.Create(spec, shape.N0, shape.N1);
        IntraResult result;
        try
        {
            result = IntraOpPass.Run(layer.Graph, mesh, _options);
            _stats.Add(result.Stats);
        }
        catch (MemoryBudgetException e)
        {
            _leastMemoryByLayer.AddOrUpdate(layer.Layer, e.MinimumBytes, (_, old) => Math.Min(old, e.MinimumBytes));
            return LayerCost.None;
        }
        return LayerCost.From(layer, result);
    }
}
