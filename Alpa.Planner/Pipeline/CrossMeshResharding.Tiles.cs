namespace Alpa.Planner.Pipeline;

public static partial class CrossMeshResharding
{
    /// <summary>Accumulates tiles region by region and keeps the send load of every device and host.</summary>
    private sealed class TileBuilder
    {
        private readonly ReshardingRequest _r;
        private readonly Dictionary<long, List<int>> _owners;
        private readonly Dictionary<long, List<int>> _needers;
        private readonly Dictionary<int, long> _deviceOut = [];
        private readonly Dictionary<int, long> _hostOut = [];
        private readonly List<ReshardingTile> _tiles = [];
        private readonly List<ReshardingAllGather> _gathers = [];
        private long _sent, _crossHost, _gathered;

        public TileBuilder(ReshardingRequest request)
        {
            _r = request;
            _owners = BlockHolders(request.Source, request.Shape.Rank);
            _needers = BlockHolders(request.Destination, request.Shape.Rank);
        }

        public void Add((long[] Offset, long[] Shape) region)
        {
            var owners = _owners[BlockKey(_r.Source, region.Offset)];
            var ownerSet = owners.ToHashSet();
            var needers = _needers[BlockKey(_r.Destination, region.Offset)];
            foreach (var d in needers.Where(ownerSet.Contains))
                _tiles.Add(new ReshardingTile(region.Offset, region.Shape, d, [d], Bytes(region.Shape)));
            var byHost = needers.Where(d => !ownerSet.Contains(d)).GroupBy(d => _r.HostOfDevice[d]).OrderBy(g => g.Key);
            foreach (var group in byHost)
            {
                var receivers = group.ToArray();
                if (!_r.LocalAllGather || receivers.Length == 1)
                {
                    Send(region.Offset, region.Shape, receivers, owners);
                    continue;
                }
                var slices = Slices(region.Offset, region.Shape, receivers.Length);
                for (var s = 0; s < slices.Count; s++)
                    Send(slices[s].Offset, slices[s].Shape, [receivers[s]], owners);
                var bytes = Bytes(region.Shape);
                _gathers.Add(new ReshardingAllGather(region.Offset, region.Shape, receivers, bytes));
                _gathered += (receivers.Length - 1) * bytes;
            }
        }

        public ReshardingPlan Result() => new()
        {
            Tiles = _tiles, AllGathers = _gathers, BytesSent = _sent, CrossHostBytes = _crossHost, AllGatherBytes = _gathered,
        };

        /// <summary>
        /// Picks the sender among the owners: no host crossing first, then the least loaded NIC (when
        /// crossing), then the least loaded device, then the lowest logical index — deterministic.
        /// </summary>
        private void Send(long[] offset, long[] shape, int[] receivers, List<int> owners)
        {
            var host = _r.HostOfDevice[receivers[0]];
            var total = Bytes(shape) * receivers.Length;
            var best = owners
                .Select((d, k) => (Device: d, Index: k, Crosses: _r.HostOfDevice[d] != host))
                .OrderBy(o => o.Crosses)
                .ThenBy(o => o.Crosses ? _hostOut.GetValueOrDefault(_r.HostOfDevice[o.Device]) : 0)
                .ThenBy(o => _deviceOut.GetValueOrDefault(o.Device))
                .ThenBy(o => o.Index)
                .First();
            _tiles.Add(new ReshardingTile(offset, shape, best.Device, receivers, Bytes(shape)));
            _deviceOut[best.Device] = _deviceOut.GetValueOrDefault(best.Device) + total;
            _sent += total;
            if (!best.Crosses) return;
            var srcHost = _r.HostOfDevice[best.Device];
            _hostOut[srcHost] = _hostOut.GetValueOrDefault(srcHost) + total;
            _crossHost += total;
        }

        private long Bytes(long[] shape) => shape.Aggregate(1L, (a, b) => a * b) * _r.ElementBytes;

        /// <summary>Global device ids holding each block, keyed by <see cref="BlockKey"/>, in logical order.</summary>
        private static Dictionary<long, List<int>> BlockHolders(ReshardingSide side, int rank)
        {
            var holders = new Dictionary<long, List<int>>();
            for (var k = 0; k < side.Devices.Count; k++)
            {
                long key = 0;
                for (var d = 0; d < rank; d++) key = key * Parts(side, d) + BlockOf(side, d, k);
                if (!holders.TryGetValue(key, out var list)) holders[key] = list = [];
                list.Add(side.Devices[k]);
            }
            return holders;
        }

        /// <summary>Mixed-radix index of the block (of one side) that contains the element at <paramref name="offset"/>.</summary>
        private long BlockKey(ReshardingSide side, long[] offset)
        {
            long key = 0;
            for (var d = 0; d < offset.Length; d++)
            {
                var parts = Parts(side, d);
                key = key * parts + offset[d] / (_r.Shape[d] / parts);
            }
            return key;
        }
    }

    /// <summary>
    /// Cuts a region into at most <paramref name="k"/> slices along one dim: the longest dim that k
    /// divides, else the longest dim (slices then differ by at most one row; a dim shorter than k
    /// gives fewer slices). A scalar is one slice.
    /// </summary>
    internal static List<(long[] Offset, long[] Shape)> Slices(long[] offset, long[] shape, int k)
    {
        if (shape.Length == 0) return [(offset, shape)];
        var dims = Enumerable.Range(0, shape.Length).OrderByDescending(d => shape[d]).ThenBy(d => d).ToArray();
        var dim = dims.FirstOrDefault(d => shape[d] % k == 0, dims[0]);
        var parts = (int)Math.Min(k, shape[dim]);
        var slices = new List<(long[], long[])>(parts);
        for (var p = 0; p < parts; p++)
        {
            var start = shape[dim] * p / parts;
            var end = shape[dim] * (p + 1) / parts;
            var o = (long[])offset.Clone();
            var s = (long[])shape.Clone();
            o[dim] += start;
            s[dim] = end - start;
            slices.Add((o, s));
        }
        return slices;
    }
}
