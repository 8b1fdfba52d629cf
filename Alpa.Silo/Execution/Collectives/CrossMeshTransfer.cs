using Alpa.Kernels;
using Alpa.Planner.Pipeline;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>Bytes one silo moved while running a <see cref="ReshardingPlan"/>.</summary>
public sealed record ReshardingTraffic
{
    /// <summary>Tile bytes this silo sent to devices of other hosts (silos), once per receiver: its share of <see cref="ReshardingPlan.CrossHostBytes"/>.</summary>
    public long CrossHostBytes { get; init; }
    /// <summary>Tile bytes this silo copied between distinct devices of its own host.</summary>
    public long IntraHostBytes { get; init; }
    /// <summary>Bytes this silo's devices received in the local all-gathers: its share of <see cref="ReshardingPlan.AllGatherBytes"/>.</summary>
    public long AllGatherBytes { get; init; }
}

/// <summary>
/// Runs a cross-mesh resharding planned by <see cref="CrossMeshResharding.Plan"/> on the silos that own
/// the two meshes' devices (host h of the plan = silo <c>siloOfHost[h]</c>). Each silo calls
/// <see cref="RunAsync"/> with the shards of its own devices; a tile leaves its source silo once per
/// receiving device of another silo (with local all-gather: once per receiving host, in slices),
/// then each destination silo completes its replicated regions with the planned all-gathers among its
/// own devices. Failures: a peer that dies fails the transfer with <see cref="SiloFailedException"/>
/// naming it; a silent one, with <see cref="CollectiveTimeoutException"/> at the deadline.
/// </summary>
public sealed class CrossMeshTransfer(ReshardingRequest request, ReshardingPlan plan, IReadOnlyList<string> siloOfHost, IPeerTransport transport)
{
    /// <summary>Deadline of the whole transfer.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Moves the tensor. <paramref name="sources"/>: device id → its shard under the source spec, for this
    /// silo's source devices; <paramref name="destinations"/>: device id → its (allocated) shard under the
    /// destination spec, for this silo's destination devices. <paramref name="key"/> names this transfer
    /// (the same on every silo, distinct per transfer of a job) and <paramref name="tag"/> the job.
    /// </summary>
    public async Task<ReshardingTraffic> RunAsync(IReadOnlyDictionary<int, Tensor> sources, IReadOnlyDictionary<int, Tensor> destinations,
                                                  ulong key, int tag, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(destinations);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(Timeout);
        var watch = WatchAsync(cts);
        long cross = 0, intra = 0;
        var transfers = new List<Task>();
        try
        {
            for (var t = 0; t < plan.Tiles.Count; t++)
            {
                var tile = plan.Tiles[t];
                var ids = tile.Receivers.Select(r => TransferIds.Of(tag, key, 0, t, tile.Source, r, 0)).ToArray();
                if (IsLocal(tile.Source))
                {
                    var (c, i) = SendTile(tile, ids, sources, destinations, transfers, cts.Token);
                    (cross, intra) = (cross + c, intra + i);
                }
                else
                {
                    for (var r = 0; r < tile.Receivers.Count; r++)
                        if (IsLocal(tile.Receivers[r]))
                            transfers.Add(ReceiveTileAsync(tile, tile.Receivers[r], ids[r], destinations, cts.Token));
                }
            }
            await Guarded(Task.WhenAll(transfers), watch, cts, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(false);
        }
        return new ReshardingTraffic { CrossHostBytes = cross, IntraHostBytes = intra, AllGatherBytes = LocalAllGathers(destinations) };
    }

    private string SiloOf(int device) => siloOfHost[request.HostOfDevice[device]];

    private bool IsLocal(int device) => SiloOf(device) == transport.Self;

    /// <summary>Packs a local tile once, copies it to local receivers and sends it to remote ones; returns (cross-host, intra-host) bytes.</summary>
    private (long Cross, long Intra) SendTile(ReshardingTile tile, ulong[] ids, IReadOnlyDictionary<int, Tensor> sources,
                                              IReadOnlyDictionary<int, Tensor> destinations, List<Task> transfers, CancellationToken token)
    {
        var shard = Shard(sources, tile.Source, "source");
        var packed = new byte[RegionCopy.Bytes(tile.Shape, shard)];
        RegionCopy.ExtractTo(shard, RegionCopy.BlockOffset(request.Source, request.Shape, tile.Source), tile.Offset, tile.Shape, packed);
        long cross = 0, intra = 0;
        for (var r = 0; r < tile.Receivers.Count; r++)
        {
            var to = tile.Receivers[r];
            if (IsLocal(to))
            {
                RegionCopy.Insert(packed, Shard(destinations, to, "destination"), RegionCopy.BlockOffset(request.Destination, request.Shape, to), tile.Offset, tile.Shape);
                if (to != tile.Source) intra += tile.Bytes;
            }
            else
            {
                transfers.Add(transport.SendAsync(SiloOf(to), ids[r], packed, token));
                cross += tile.Bytes;
            }
        }
        return (cross, intra);
    }

    private async Task ReceiveTileAsync(ReshardingTile tile, int to, ulong id, IReadOnlyDictionary<int, Tensor> destinations, CancellationToken token)
    {
        var shard = Shard(destinations, to, "destination");
        var packed = new byte[RegionCopy.Bytes(tile.Shape, shard)];
        await transport.ReceiveAsync(SiloOf(tile.Source), id, packed, token).ConfigureAwait(false);
        RegionCopy.Insert(packed, shard, RegionCopy.BlockOffset(request.Destination, request.Shape, to), tile.Offset, tile.Shape);
    }

    /// <summary>
    /// Completes each replicated region among the devices of one host: every device copies in the slices
    /// the others received (all on this silo). Returns the bytes received, Σ over devices of region − own slice.
    /// </summary>
    private long LocalAllGathers(IReadOnlyDictionary<int, Tensor> destinations)
    {
        long received = 0;
        foreach (var gather in plan.AllGathers.Where(g => IsLocal(g.Devices[0])))
        {
            var slices = plan.Tiles.Where(t => t.Receivers.Count == 1 && gather.Devices.Contains(t.Receivers[0]) && Inside(t, gather)).ToList();
            foreach (var device in gather.Devices)
            {
                var into = Shard(destinations, device, "destination");
                var intoOffset = RegionCopy.BlockOffset(request.Destination, request.Shape, device);
                foreach (var slice in slices.Where(s => s.Receivers[0] != device))
                {
                    var from = slice.Receivers[0];
                    RegionCopy.Copy(Shard(destinations, from, "destination"), RegionCopy.BlockOffset(request.Destination, request.Shape, from),
                                    into, intoOffset, slice.Offset, slice.Shape);
                    received += slice.Bytes;
                }
            }
        }
        return received;
    }

    private static bool Inside(ReshardingTile tile, ReshardingAllGather gather)
    {
        for (var d = 0; d < tile.Offset.Count; d++)
            if (tile.Offset[d] < gather.Offset[d] || tile.Offset[d] + tile.Shape[d] > gather.Offset[d] + gather.Shape[d]) return false;
        return true;
    }

    private static Tensor Shard(IReadOnlyDictionary<int, Tensor> shards, int device, string side) =>
        shards.TryGetValue(device, out var t) ? t
            : throw new KernelException($"cross-mesh transfer: no {side} shard given for device {device}, which lives on this silo");

    /// <summary>Watches the other silos of the transfer until <paramref name="cts"/> ends; a dead one cancels the transfer.</summary>
    private async Task<Exception?> WatchAsync(CancellationTokenSource cts)
    {
        var peers = plan.Tiles.SelectMany(t => t.Receivers.Append(t.Source)).Select(SiloOf).Distinct().Where(s => s != transport.Self).ToList();
        if (peers.Count == 0) return null;
        try
        {
            await transport.WatchAsync(peers, cts.Token).ConfigureAwait(false);
            return null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (CollectiveException e)
        {
            await cts.CancelAsync().ConfigureAwait(false);
            return e;
        }
    }

    /// <summary>Awaits the transfers; reports the watch's failure, or the deadline, instead of the cancellations they caused.</summary>
    private async Task Guarded(Task transfers, Task<Exception?> watch, CancellationTokenSource cts, CancellationToken caller)
    {
        try
        {
            await transfers.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            if (watch.IsCompleted && await watch.ConfigureAwait(false) is { } failure) throw failure;
            if (!cts.IsCancellationRequested || caller.IsCancellationRequested) throw;
            var waiting = plan.Tiles.Where(t => !IsLocal(t.Source) && t.Receivers.Any(IsLocal)).Select(t => SiloOf(t.Source)).FirstOrDefault() ?? "?";
            throw new CollectiveTimeoutException(waiting, "cross-mesh transfer", Timeout);
        }
    }
}
