using Alpa.Planner.Sharding;
using Alpa.Planner.Graph;

namespace Alpa.Planner.Inter;

/// <summary>Rates of the <see cref="PlaceholderStageCosts"/>.</summary>
public sealed record PlaceholderRates
{
    /// <summary>Achievable FLOP/s of one device.</summary>
    public double DeviceFlopsPerSecond { get; init; } = 1e12;
    /// <summary>Bytes held per byte of parameters: weights, gradients and two Adam moments in the parameter dtype (4).</summary>
    public double StateBytesPerParameterByte { get; init; } = 4;
    /// <summary>Optimizer FLOPs per parameter per step (Adam ≈ 10).</summary>
    public double UpdateFlopsPerParameter { get; init; } = 10;
}

/// <summary>
/// A stand-in for the intra-operator pass, for end-to-end tests until the real costs are plugged in.
/// Every stage runs pure data parallelism over all devices of its submesh whatever the logical
/// mesh: forward time = the layers' forward FLOPs for one microbatch / (devices · rate), backward = 2 ×
/// forward; parameters and optimizer state replicated; activations split over the devices; one
/// gradient all-reduce per step over the whole mesh (ring, 2(d − 1)/d · bytes over the intra-host link,
/// or the host NIC when the mesh spans hosts); the optimizer update on every device. Strategies
/// report "data-parallel" for every heavy op and parameter specs are all "R".
/// The graph is the forward graph at the global batch; a microbatch is 1/B of it.
/// </summary>
public sealed class PlaceholderStageCosts : IStageCostProvider
{
    private readonly LayerClusteringResult _layers;
    private readonly InterOpCluster _cluster;
    private readonly PlaceholderRates _rates;
    private readonly double[] _flops, _parameterBytes, _parameters, _activationBytes;
    private readonly List<string>[] _heavy;
    private readonly List<Node>[] _parameterNodes;

    public PlaceholderStageCosts(Graph.Graph graph, LayerClusteringResult layers, InterOpCluster cluster, PlaceholderRates? rates = null)
    {
        _layers = layers;
        _cluster = cluster;
        _rates = rates ?? new PlaceholderRates();
        var l = layers.LayerCount;
        (_flops, _parameterBytes, _parameters, _activationBytes) = (new double[l], new double[l], new double[l], new double[l]);
        _heavy = Enumerable.Range(0, l).Select(_ => new List<string>()).ToArray();
        _parameterNodes = Enumerable.Range(0, l).Select(_ => new List<Node>()).ToArray();
        foreach (var n in graph.Nodes)
        {
            var layer = layers.NodeLayer[n.Id];
            if (layer < 0) continue;
            if (n.Op == OpKind.Parameter)
            {
                _parameterBytes[layer] += n.OutputBytes;
                _parameters[layer] += n.Shape.Elements;
                _parameterNodes[layer].Add(n);
            }
            if (n.IsLeaf) continue;
            _flops[layer] += n.Flops;
            _activationBytes[layer] += n.OutputBytes;
            if (OpCosts.IsMatmulClass(n.Op)) _heavy[layer].Add(n.Name);
        }
    }

    public IStageCostModel ForMicrobatches(int microbatches) =>
        microbatches >= 1 ? new Model(this, microbatches)
            : throw new InterOpException($"microbatches must be ≥ 1, got {microbatches}") { Field = "microbatches" };

    private sealed class Model(PlaceholderStageCosts owner, int microbatches) : IStageCostModel
    {
        public int LayerCount => owner._layers.LayerCount;

        public long TransferBytes(int producer, int consumer) => owner._layers.TransferBytes(producer, consumer) / microbatches;

        public StageCost Evaluate(StageKey key)
        {
            double Sum(double[] a)
            {
                double total = 0;
                for (var l = key.First; l <= key.Last; l++) total += a[l];
                return total;
            }

            var o = owner;
            var d = key.Submesh.Count;
            var rate = o._rates.DeviceFlopsPerSecond;
            var forwardFlops = Sum(o._flops) / microbatches;
            var paramBytes = Sum(o._parameterBytes);
            var forward = forwardFlops / (d * rate);
            return new StageCost
            {
                ForwardSeconds = forward,
                BackwardSeconds = 2 * forward,
                ParameterBytes = (long)(paramBytes * o._rates.StateBytesPerParameterByte),
                ActivationBytes = (long)Math.Ceiling(Sum(o._activationBytes) / microbatches / d),
                StepCollectives = d > 1 ? [AllReduce(key, (long)paramBytes)] : [],
                UpdateSeconds = Sum(o._parameters) * o._rates.UpdateFlopsPerParameter / rate,
                Flops = 3 * forwardFlops,
                Strategies = Enumerable.Range(key.First, key.Last - key.First + 1).SelectMany(l => o._heavy[l])
                    .ToDictionary(n => n, _ => "data-parallel", StringComparer.Ordinal),
                ParameterSpecs = Enumerable.Range(key.First, key.Last - key.First + 1).SelectMany(l => o._parameterNodes[l])
                    .ToDictionary(n => n.Name, n => (IReadOnlyList<string>)Enumerable.Repeat("R", n.Shape.Rank).ToArray(), StringComparer.Ordinal),
            };
        }

        private StepCollective AllReduce(StageKey key, long bytes)
        {
            var c = owner._cluster;
            var d = key.Submesh.Count;
            var (latency, bandwidth) = key.Submesh.Hosts > 1 ? (c.InterHostLatency, c.InterHostBandwidth) : (c.IntraHostLatency, c.IntraHostBandwidth);
            return new StepCollective
            {
                Kind = CollectiveKind.AllReduce, Axis = -1, Bytes = bytes,
                Seconds = latency + 2.0 * (d - 1) / d * bytes / bandwidth,
            };
        }
    }
}
