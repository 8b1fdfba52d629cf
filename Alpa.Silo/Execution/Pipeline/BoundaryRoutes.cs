using Alpa.Kernels;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>One tile of a boundary tensor on its way: which tensor, which tile of its resharding plan, the values.</summary>
public sealed record BoundaryTile(string Name, int Tile, HostTensor Data);

/// <summary>
/// Cross-mesh resharding of every boundary tensor of a job [Alpa §6]: for each (tensor, source stage,
/// destination stage) the tile plan of <see cref="CrossMeshResharding"/> from the tensor's spec on the
/// source mesh to the spec the destination stage's lowering reads. Planned once per job; a SEND cuts
/// each tile out of the owning source device's shard, a RECV writes every tile into each receiving
/// device's shard. Every receiver gets its own copy (no local all-gather: in one process each tile
/// crosses no network).
/// </summary>
public sealed class BoundaryRoutes
{
    private readonly Dictionary<(string Name, int From, int To), ReshardingPlan> _plans = [];
    private readonly Plan _plan;
    private readonly IReadOnlyList<StageRuntime> _stages;

    public BoundaryRoutes(Plan plan, IReadOnlyList<StageRuntime> stages)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(stages);
        (_plan, _stages) = (plan, stages);
        var hosts = CrossMeshResharding.HostMap(plan.Cluster);
        foreach (var to in stages)
            foreach (var t in to.Stage.Received)
            {
                var from = stages[t.FromStage];
                var node = to.Stage.Graph[t.Name];
                _plans[(t.Name, t.FromStage, t.ToStage)] = CrossMeshResharding.Plan(new ReshardingRequest
                {
                    Shape = node.Shape,
                    ElementBytes = 4,
                    Source = ReshardingSide.Of(from.SpecOf(t.Name), from.Mesh, plan.Stages[t.FromStage].Devices),
                    Destination = ReshardingSide.Of(to.SpecOf(t.Name), to.Mesh, plan.Stages[t.ToStage].Devices),
                    HostOfDevice = hosts,
                    LocalAllGather = false,
                });
            }
    }

    /// <summary>Bytes moved between distinct devices per step by every route (activations and gradients, all microbatches).</summary>
    public long BytesPerStep => _plans.Values.Sum(p => p.BytesSent) * _plan.Microbatches;

    /// <summary>The tiles of a bundle that stage <paramref name="from"/> sends to stage <paramref name="to"/>.</summary>
    public IReadOnlyList<BoundaryTile> Cut(int from, int to, ShardBundle bundle)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var stage = _stages[from];
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
                host[rank] ??= stage.Devices[rank].CopyToHost(shards[rank]);
                var origin = stage.BlockOffsets(name, rank);
                tiles.Add(new BoundaryTile(name, i, ShardLayout.Region(host[rank]!, Relative(tile.Offset, origin), [.. tile.Shape])));
            }
        }
        return tiles;
    }

    /// <summary>Assembles received tiles into the destination stage's shards.</summary>
    public ShardBundle Join(int from, int to, IReadOnlyList<BoundaryTile> tiles)
    {
        ArgumentNullException.ThrowIfNull(tiles);
        var stage = _stages[to];
        var devices = _plan.Stages[to].Devices;
        var result = new Dictionary<string, Tensor[]>(StringComparer.Ordinal);
        foreach (var group in tiles.GroupBy(t => t.Name))
        {
            var route = Route(group.Key, from, to);
            var local = stage.LocalShards(group.Key);
            foreach (var t in group)
            {
                var tile = route.Tiles[t.Tile];
                foreach (var receiver in tile.Receivers)
                {
                    var rank = Rank(devices, receiver);
                    ShardLayout.Place(t.Data, local[rank], Relative(tile.Offset, stage.BlockOffsets(group.Key, rank)));
                }
            }
            result[group.Key] = [.. local.Select((h, r) => stage.Devices[r].Upload(h))];
        }
        return new ShardBundle(result);
    }

    private ReshardingPlan Route(string name, int from, int to) =>
        _plans.TryGetValue((name, from, to), out var p) ? p : throw new ExecutionException($"no route for '{name}' from stage {from} to stage {to}");

    private static int Rank(IReadOnlyList<int> devices, int device)
    {
        for (var r = 0; r < devices.Count; r++)
            if (devices[r] == device) return r;
        throw new ExecutionException($"device {device} is not on this mesh");
    }

    private static long[] Relative(IReadOnlyList<long> offset, long[] origin) => [.. offset.Select((o, d) => o - origin[d])];
}
