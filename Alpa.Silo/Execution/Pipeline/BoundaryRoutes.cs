using Alpa.Kernels;
using Alpa.Planner.Cluster;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;
using Alpa.Planner.Sharding;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>One tile of a boundary tensor on its way: which tensor, which tile of its resharding plan, the values.</summary>
public sealed record BoundaryTile(string Name, int Tile, HostTensor Data);

/// <summary>What routes to and from a stage need of it: its logical mesh and the specs of its boundary tensors.</summary>
/// <param name="Mesh">The stage's logical mesh.</param>
/// <param name="Specs">Spec of every tensor the stage sends or receives, by node name (as its lowering holds or reads it).</param>
public sealed record StageLayout(LogicalMesh Mesh, IReadOnlyDictionary<string, ShardingSpec> Specs)
{
    public ShardingSpec SpecOf(string name) =>
        Specs.TryGetValue(name, out var s) ? s : throw new ExecutionException($"the stage has no boundary spec for '{name}'") { Field = name };
}

/// <summary>
/// Cross-mesh resharding of every boundary tensor of a job [Alpa §6]: for each (tensor, source stage,
/// destination stage) the tile plan of <see cref="CrossMeshResharding"/> from the tensor's spec on the
/// source mesh to the spec the destination stage's lowering reads. Planned once per job from every
/// stage's <see cref="StageLayout"/>; only the stages run here (<c>local</c>) need a runtime. A SEND cuts
/// each tile out of the owning source device's shard (the tiles whose source device runs here), a RECV
/// writes every tile into each receiving device's shard that runs here. Every receiver gets its own copy
/// (no local all-gather).
/// </summary>
public sealed class BoundaryRoutes
{
    private readonly Dictionary<(string Name, int From, int To), ReshardingPlan> _plans = [];
    private readonly Plan _plan;
    private readonly IReadOnlyDictionary<int, StageRuntime> _local;

    /// <summary>Routes of a job whose stages all run in this process.</summary>
    public BoundaryRoutes(Plan plan, IReadOnlyList<StageRuntime> stages)
        : this(plan, [.. stages.Select(s => s.Stage)], [.. stages.Select(s => s.Layout)], stages.ToDictionary(s => s.Stage.Stage))
    {
    }

    /// <param name="stages">Every stage graph of the job.</param>
    /// <param name="layouts">Every stage's layout (from its lowering, here or on the silo that runs it).</param>
    /// <param name="local">The runtimes of the stages (or parts of stages) this process runs, by stage.</param>
    public BoundaryRoutes(Plan plan, IReadOnlyList<StageGraph> stages, IReadOnlyList<StageLayout> layouts, IReadOnlyDictionary<int, StageRuntime> local)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(stages);
        ArgumentNullException.ThrowIfNull(layouts);
        (_plan, _local) = (plan, local);
        var hosts = CrossMeshResharding.HostMap(plan.Cluster);
        foreach (var to in stages)
            foreach (var t in to.Received)
            {
                var node = to.Graph[t.Name];
                _plans[(t.Name, t.FromStage, t.ToStage)] = CrossMeshResharding.Plan(new ReshardingRequest
                {
                    Shape = node.Shape,
                    ElementBytes = 4,
                    Source = ReshardingSide.Of(layouts[t.FromStage].SpecOf(t.Name), layouts[t.FromStage].Mesh, plan.Stages[t.FromStage].Devices),
                    Destination = ReshardingSide.Of(layouts[t.ToStage].SpecOf(t.Name), layouts[t.ToStage].Mesh, plan.Stages[t.ToStage].Devices),
                    HostOfDevice = hosts,
                    LocalAllGather = false,
                });
            }
    }

    /// <summary>Bytes moved between distinct devices per step by every route (activations and gradients, all microbatches).</summary>
    public long BytesPerStep => _plans.Values.Sum(p => p.BytesSent) * _plan.Microbatches;

    /// <summary>Device ids that receive tile <paramref name="tile"/> of <paramref name="name"/> on its way from stage <paramref name="from"/> to <paramref name="to"/>.</summary>
    public IReadOnlyList<int> Receivers(string name, int from, int to, int tile) => Route(name, from, to).Tiles[tile].Receivers;

    /// <summary>The tiles of a bundle that stage <paramref name="from"/> sends to stage <paramref name="to"/> whose source device runs here.</summary>
    public IReadOnlyList<BoundaryTile> Cut(int from, int to, ShardBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var stage = Local(from);
        var devices = _plan.Stages[from].Devices;
        var tiles = new List<BoundaryTile>();
        foreach (var (name, shards) in bundle.Tensors)
        {
            var route = Route(name, from, to);
            var host = new HostTensor?[shards.Length];
            for (var i = 0; i < route.Tiles.Count; i++)
            {
                var tile = route.Tiles[i];
                var rank = Rank(devices, tile.Source);
                var k = stage.LocalIndex(rank);
                if (k < 0) continue;
                host[k] ??= stage.Devices[k].CopyToHost(shards[k]);
                var offsets = Relative(tile.Offset, stage.BlockOffsets(name, rank));
                // A tile that is the whole shard goes as the host copy itself (tiles are read-only).
                var data = IsWhole(host[k]!.Shape, offsets, tile.Shape) ? host[k]! : ShardLayout.Region(host[k]!, offsets, [.. tile.Shape]);
                tiles.Add(new BoundaryTile(name, i, data));
            }
        }
        return tiles;
    }

    /// <summary>Assembles received tiles into the shards of the destination stage's devices that run here.</summary>
    public ShardBundle Join(int from, int to, IReadOnlyList<BoundaryTile> tiles)
    {
        ArgumentNullException.ThrowIfNull(tiles);
        var stage = Local(to);
        var devices = _plan.Stages[to].Devices;
        var result = new Dictionary<string, Tensor[]>(StringComparer.Ordinal);
        foreach (var group in tiles.GroupBy(t => t.Name))
        {
            var route = Route(group.Key, from, to);
            if (Whole(stage, devices, route, group) is { } whole)
            {
                result[group.Key] = [.. whole.Select((h, k) => stage.Devices[k].Upload(h))];
                continue;
            }
            var local = stage.LocalShards(group.Key);
            foreach (var t in group)
            {
                var tile = route.Tiles[t.Tile];
                foreach (var receiver in tile.Receivers)
                {
                    var rank = Rank(devices, receiver);
                    var k = stage.LocalIndex(rank);
                    if (k >= 0) ShardLayout.Place(t.Data, local[k], Relative(tile.Offset, stage.BlockOffsets(group.Key, rank)));
                }
            }
            result[group.Key] = [.. local.Select((h, k) => stage.Devices[k].Upload(h))];
        }
        return new ShardBundle(result);
    }

    private StageRuntime Local(int stage) =>
        _local.TryGetValue(stage, out var r) ? r : throw new ExecutionException($"stage {stage} does not run in this process");

    private ReshardingPlan Route(string name, int from, int to) =>
        _plans.TryGetValue((name, from, to), out var p) ? p : throw new ExecutionException($"no route for '{name}' from stage {from} to stage {to}");

    private static int Rank(IReadOnlyList<int> devices, int device)
    {
        for (var r = 0; r < devices.Count; r++)
            if (devices[r] == device) return r;
        throw new ExecutionException($"device {device} is not on this mesh");
    }

    private static long[] Relative(IReadOnlyList<long> offset, long[] origin) => [.. offset.Select((o, d) => o - origin[d])];

    private static bool IsWhole(IReadOnlyList<long> shard, long[] offsets, IReadOnlyList<long> tile) =>
        offsets.All(o => o == 0) && shard.SequenceEqual(tile);

    /// <summary>
    /// When every local shard of the tensor is exactly one received tile (same layout on both meshes,
    /// the common case), the tiles themselves, by local rank; otherwise null and the tiles are placed
    /// into zeroed shards.
    /// </summary>
    private static HostTensor[]? Whole(StageRuntime stage, IReadOnlyList<int> devices, ReshardingPlan route, IEnumerable<BoundaryTile> tiles)
    {
        var shape = stage.LocalShape(tiles.First().Name);
        var whole = new HostTensor?[stage.Devices.Count];
        foreach (var t in tiles)
        {
            var tile = route.Tiles[t.Tile];
            foreach (var receiver in tile.Receivers)
            {
                var rank = Rank(devices, receiver);
                var k = stage.LocalIndex(rank);
                if (k < 0) continue;
                if (whole[k] is not null || !IsWhole(shape, Relative(tile.Offset, stage.BlockOffsets(t.Name, rank)), tile.Shape)) return null;
                whole[k] = t.Data;
            }
        }
        return whole.All(w => w is not null) ? [.. whole.Select(w => w!)] : null;
    }
}
