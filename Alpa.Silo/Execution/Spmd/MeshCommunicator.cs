using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Planner.Cluster;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// One collective the SPMD executor issued over the whole mesh (all groups of its axes at once).
/// </summary>
/// <param name="Tensor">The node whose value was communicated.</param>
/// <param name="Kind">The operation.</param>
/// <param name="Axes">Mesh axes (bit 0 axis 0, bit 1 axis 1).</param>
/// <param name="LogicalBytes">Size of the full tensor within one group, as <see cref="Collectives"/> defines it.</param>
/// <param name="SentBytesPerDevice">Ring-equivalent bytes each device sent.</param>
/// <param name="Source">"strategy" for a strategy's own collective, "reshard" for an edge, "update" for writing an update back.</param>
public sealed record CollectiveRecord(string Tensor, CollectiveKind Kind, int Axes, long LogicalBytes, long SentBytesPerDevice, string Source);

/// <summary>
/// Mesh-level collectives over per-rank tensors: each call runs the group call of
/// <see cref="ICollectives"/> for every group along the given axes that has a member here, and logs
/// one <see cref="CollectiveRecord"/>. Arrays are indexed by <b>local</b> index k, which holds mesh
/// rank <see cref="Rank"/>(k) (= i·n1 + j): a whole mesh in one process (<paramref name="ranks"/> null,
/// k = rank, in-process collectives) or only this silo's ranks of a mesh spanning silos (collectives
/// across silos, e.g. <c>ClusterCollectives</c> over the mesh's ranks, called with the local members' tensors).
/// </summary>
public sealed class MeshCommunicator(LogicalMesh mesh, Device[] devices, ICollectives collectives, IReadOnlyList<int>? ranks = null)
{
    private readonly List<CollectiveRecord> _log = [];
    private readonly int[] _ranks = [.. ranks ?? Enumerable.Range(0, devices.Length)];
    private readonly Dictionary<int, int> _local = (ranks ?? Enumerable.Range(0, devices.Length)).Select((r, k) => (r, k)).ToDictionary(x => x.r, x => x.k);
    private long _collectiveTicks;

    /// <summary>Mesh rank held at local index <paramref name="local"/>.</summary>
    public int Rank(int local) => _ranks[local];

    /// <summary>Mesh ranks of this process, by local index.</summary>
    public IReadOnlyList<int> Ranks => _ranks;

    /// <summary>True when every rank of the mesh lives in this process.</summary>
    public bool HoldsWholeMesh => _ranks.Length == mesh.Devices;

    public LogicalMesh Mesh => mesh;
    public IReadOnlyList<Device> Devices => devices;
    public ICollectives Collectives => collectives;
    public IReadOnlyList<CollectiveRecord> Log => _log;
    public void ClearLog() => _log.Clear();

    /// <summary>Wall seconds spent inside collectives since this communicator was made (timelines difference it).</summary>
    public double CollectiveSeconds => Stopwatch.GetElapsedTime(0, _collectiveTicks).TotalSeconds;

    /// <summary>Ranks of every group along the mesh axes in <paramref name="axes"/> (3: one group of all ranks, rank order).</summary>
    public List<int[]> Groups(int axes) => axes switch
    {
        1 => LogicalMesh.Groups(mesh.N0, mesh.N1, 0),
        2 => LogicalMesh.Groups(mesh.N0, mesh.N1, 1),
        3 => [[.. Enumerable.Range(0, mesh.Devices)]],
        _ => throw new ArgumentOutOfRangeException(nameof(axes)),
    };

    public void AllReduce(int axes, Tensor[] x, CollectiveReduce op, string tensor, string source)
    {
        var t0 = Stopwatch.GetTimestamp();
        var groups = Groups(axes);
        foreach (var g in Mine(groups)) collectives.AllReduce(g, Pick(x, g), op);
        Record(tensor, CollectiveKind.AllReduce, axes, x[0].Bytes, x[0].Bytes * 2 * (groups[0].Length - 1) / groups[0].Length, source, t0);
    }

    public Tensor[] AllGather(int axes, Tensor[] x, int dim, string tensor, string source)
    {
        var t0 = Stopwatch.GetTimestamp();
        var groups = Groups(axes);
        var n = groups[0].Length;
        var y = Allocate(x, dim, n);
        foreach (var g in Mine(groups)) collectives.AllGather(g, Pick(x, g), Pick(y, g), dim);
        Record(tensor, CollectiveKind.AllGather, axes, y[0].Bytes, y[0].Bytes * (n - 1) / n, source, t0);
        return y;
    }

    public Tensor[] ReduceScatter(int axes, Tensor[] x, int dim, string tensor, string source)
    {
        var t0 = Stopwatch.GetTimestamp();
        var groups = Groups(axes);
        var n = groups[0].Length;
        var y = Allocate(x, dim, 1, n);
        foreach (var g in Mine(groups)) collectives.ReduceScatter(g, Pick(x, g), Pick(y, g), dim);
        Record(tensor, CollectiveKind.ReduceScatter, axes, x[0].Bytes, x[0].Bytes * (n - 1) / n, source, t0);
        return y;
    }

    public Tensor[] AllToAll(int axes, Tensor[] x, int splitDim, int concatDim, string tensor, string source)
    {
        var t0 = Stopwatch.GetTimestamp();
        var groups = Groups(axes);
        var n = groups[0].Length;
        var y = new Tensor[x.Length];
        for (var r = 0; r < x.Length; r++)
        {
            var shape = x[r].Shape.ToArray();
            shape[splitDim] /= n;
            shape[concatDim] *= n;
            y[r] = devices[r].Allocate(x[r].Type, shape);
        }
        foreach (var g in Mine(groups)) collectives.AllToAll(g, Pick(x, g), Pick(y, g), splitDim, concatDim);
        Record(tensor, CollectiveKind.AllToAll, axes, x[0].Bytes * n, x[0].Bytes * (n - 1) / n, source, t0);
        return y;
    }

    private Tensor[] Allocate(Tensor[] x, int dim, int multiply, int divide = 1)
    {
        var y = new Tensor[x.Length];
        for (var r = 0; r < x.Length; r++)
        {
            var shape = x[r].Shape.ToArray();
            shape[dim] = shape[dim] * multiply / divide;
            y[r] = devices[r].Allocate(x[r].Type, shape);
        }
        return y;
    }

    /// <summary>The groups with a member in this process (the others are called by their own silos).</summary>
    private IEnumerable<int[]> Mine(List<int[]> groups) => groups.Where(g => g.Any(_local.ContainsKey));

    /// <summary>The tensors of the group's members that live here, in group order.</summary>
    private Tensor[] Pick(Tensor[] x, int[] group) => [.. group.Where(_local.ContainsKey).Select(r => x[_local[r]])];

    private void Record(string tensor, CollectiveKind kind, int axes, long logical, long sent, string source, long t0)
    {
        _collectiveTicks += Stopwatch.GetTimestamp() - t0;
        _log.Add(new CollectiveRecord(tensor, kind, axes, logical, sent, source));
    }
}
