using Alpa.Planner.Sharding;
using Alpa.Planner.Inter;

namespace Alpa.Tests.Inter;

/// <summary>A stage cost model backed by a random table, for checking the DP against brute force.</summary>
internal sealed class TableCostModel : IStageCostModel, IStageCostProvider
{
    private readonly Dictionary<StageKey, StageCost> _costs = [];
    private readonly long[,] _transfer;

    public TableCostModel(int layers, IReadOnlyList<SubmeshShape> submeshes, Random rng, double infeasibleShare = 0.05)
    {
        LayerCount = layers;
        _transfer = new long[layers, layers];
        for (var p = 0; p < layers; p++)
            for (var q = p + 1; q < layers; q++)
                _transfer[p, q] = q == p + 1 || rng.NextDouble() < 0.3 ? rng.Next(1, 1 << 20) : 0;
        for (var i = 0; i < layers; i++)
            for (var j = i; j < layers; j++)
                foreach (var s in submeshes)
                    foreach (var m in MeshShapes.LogicalMeshes(s))
                        _costs[new StageKey(i, j, s, m)] = rng.NextDouble() < infeasibleShare ? StageCost.Infeasible : Random(i, j, s, rng);
    }

    public int LayerCount { get; }
    public int Evaluations;

    private static StageCost Random(int i, int j, SubmeshShape s, Random rng)
    {
        var work = (j - i + 1) * (0.5 + rng.NextDouble());
        var speedup = Math.Pow(s.Count, 0.6 + 0.4 * rng.NextDouble());
        var fwd = Math.Round(work / speedup, 3) + 0.001;
        var sync = s.Count > 1 && rng.NextDouble() < 0.8 ? Math.Round(rng.NextDouble() * 0.5, 3) : 0;
        return new StageCost
        {
            ForwardSeconds = fwd,
            BackwardSeconds = Math.Round(2 * fwd * (0.8 + 0.4 * rng.NextDouble()), 3),
            ParameterBytes = (long)((j - i + 1) * rng.Next(50, 150) / Math.Sqrt(s.Count)),
            ActivationBytes = (long)((j - i + 1) * rng.Next(5, 40) / Math.Sqrt(s.Count)),
            StepCollectives = sync > 0 ? [new StepCollective { Kind = CollectiveKind.AllReduce, Axis = 0, Bytes = 1000, Seconds = sync }] : [],
            UpdateSeconds = Math.Round(rng.NextDouble() * 0.2, 3),
            Flops = 1e9 * (j - i + 1),
        };
    }

    public StageCost Evaluate(StageKey key)
    {
        Interlocked.Increment(ref Evaluations);
        return _costs[key];
    }

    public long TransferBytes(int producer, int consumer) => _transfer[producer, consumer];
    public IStageCostModel ForMicrobatches(int microbatches) => this;
}
