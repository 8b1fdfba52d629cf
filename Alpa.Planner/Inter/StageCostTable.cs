namespace Alpa.Planner.Inter;

/// <summary>Progress of a planning run, reported as candidates are evaluated.</summary>
/// <param name="Microbatches">Microbatch count B whose candidates are being evaluated.</param>
/// <param name="Evaluated">Candidates evaluated so far for this B.</param>
/// <param name="Total">Candidates for this B.</param>
public readonly record struct InterOpProgress(int Microbatches, int Evaluated, int Total);

/// <summary>
/// The cost of every (layer range, submesh, logical mesh) candidate at one microbatch count,
/// evaluated in parallel into a table indexed by the key (the cache of the DP): results land at
/// fixed positions, so the table does not depend on evaluation order.
/// </summary>
public sealed class StageCostTable
{
    private readonly StageCost[] _costs;
    private readonly int[] _meshOffset;

    private StageCostTable(int layers, IReadOnlyList<SubmeshShape> submeshes,
                           IReadOnlyList<IReadOnlyList<LogicalMeshShape>> meshes, StageCost[] costs, int[] meshOffset)
    {
        LayerCount = layers;
        Submeshes = submeshes;
        Meshes = meshes;
        _costs = costs;
        _meshOffset = meshOffset;
    }

    public int LayerCount { get; }
    public IReadOnlyList<SubmeshShape> Submeshes { get; }
    /// <summary>Logical meshes tried on each submesh (same order as <see cref="Submeshes"/>).</summary>
    public IReadOnlyList<IReadOnlyList<LogicalMeshShape>> Meshes { get; }
    /// <summary>Number of candidates in the table.</summary>
    public int Count => _costs.Length;

    /// <summary>Cost of layers [i, j] on submesh k with its c-th logical mesh.</summary>
    public StageCost this[int i, int j, int k, int c] => _costs[Index(i, j, k, c)];

    public StageKey Key(int i, int j, int k, int c) => new(i, j, Submeshes[k], Meshes[k][c]);

    /// <summary>
    /// Evaluates every candidate of <paramref name="model"/> in parallel. With <paramref name="cluster"/>,
    /// each feasible candidate also gets its <see cref="StageCost.BoundarySeconds"/> (<see cref="BoundarySeconds"/>).
    /// </summary>
    public static StageCostTable Build(IStageCostModel model, IReadOnlyList<SubmeshShape> submeshes, LogicalMeshSpace meshSpace,
                                       int microbatches = 0, IProgress<InterOpProgress>? progress = null, int maxParallelism = -1,
                                       InterOpCluster? cluster = null)
    {
        var layers = model.LayerCount;
        if (layers < 1) throw new InterOpException($"the cost model has {layers} layers; at least one is needed") { Field = "layers" };
        var meshes = submeshes.Select(s => MeshShapes.LogicalMeshes(s, meshSpace)).ToArray();
        var offset = new int[submeshes.Count + 1];
        for (var k = 0; k < submeshes.Count; k++) offset[k + 1] = offset[k] + meshes[k].Count;
        var pairs = layers * (layers + 1) / 2;
        var costs = new StageCost[pairs * offset[^1]];
        var table = new StageCostTable(layers, submeshes, meshes, costs, offset);

        var keys = new (int I, int J, int K, int C)[costs.Length];
        for (var i = 0; i < layers; i++)
            for (var j = i; j < layers; j++)
                for (var k = 0; k < submeshes.Count; k++)
                    for (var c = 0; c < meshes[k].Count; c++)
                        keys[table.Index(i, j, k, c)] = (i, j, k, c);

        var incoming = cluster is null ? null : IncomingBytes(model);
        var done = 0;
        var options = new ParallelOptions { MaxDegreeOfParallelism = maxParallelism };
        Parallel.For(0, keys.Length, options, n =>
        {
            var (i, j, k, c) = keys[n];
            var cost = model.Evaluate(table.Key(i, j, k, c)) ?? StageCost.Infeasible;
            if (incoming is not null && cost.IsFeasible && incoming[i, j] > 0)
                cost = cost with { BoundarySeconds = BoundarySeconds(cluster!, submeshes[k], incoming[i, j]) };
            costs[n] = cost;
            var now = Interlocked.Increment(ref done);
            progress?.Report(new InterOpProgress(microbatches, now, keys.Length));
        });
        return table;
    }

    /// <summary>
    /// Transfer time of a stage that receives <paramref name="bytes"/> per microbatch and sends their
    /// gradients back: twice latency + bytes over the links the placement gives it — the network of
    /// its hosts when it spans whole hosts (its neighbours are then on other hosts), else one
    /// intra-host lane per device (the estimate of <see cref="Pipeline.PipelineSimulator.TransferSeconds(InterOpCluster, IReadOnlyList{int}, IReadOnlyList{int}, long)"/>
    /// before the placement is known).
    /// </summary>
    public static double BoundarySeconds(InterOpCluster cluster, SubmeshShape submesh, long bytes)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var oneWay = submesh.Devices < cluster.DevicesPerHost
            ? cluster.IntraHostLatency + bytes / (cluster.IntraHostBandwidth * submesh.Devices)
            : cluster.InterHostLatency + bytes / (cluster.InterHostBandwidth * submesh.Hosts);
        return 2 * oneWay;
    }

    /// <summary>Bytes layers [i, j] receive from layers before i, per microbatch.</summary>
    private static long[,] IncomingBytes(IStageCostModel model)
    {
        var layers = model.LayerCount;
        var result = new long[layers, layers];
        for (var i = 1; i < layers; i++)
        {
            long sum = 0;
            for (var j = i; j < layers; j++)
            {
                for (var p = 0; p < i; p++) sum += model.TransferBytes(p, j);
                result[i, j] = sum;
            }
        }
        return result;
    }

    private int Index(int i, int j, int k, int c)
    {
        // Pairs (i, j), i ≤ j, in row-major order of i.
        var pair = i * LayerCount - i * (i - 1) / 2 + (j - i);
        return pair * _meshOffset[^1] + _meshOffset[k] + c;
    }
}
