using Alpa.Planner.Inter;

namespace Alpa.Planner.Pipeline;

public static partial class CrossMeshResharding
{
    /// <summary>
    /// Predicted time of a resharding on <paramref name="cluster"/>: all tiles move at once, limited by
    /// the busiest link — each host's NIC (bytes leaving or entering the host over
    /// <see cref="InterOpCluster.InterHostBandwidth"/>) and each device's intra-host link (bytes it sends
    /// or receives inside its host over <see cref="InterOpCluster.IntraHostBandwidth"/>) — plus one
    /// latency; then the all-gathers, which a device takes part in one after another, each costing
    /// <c>α + bytes·(k − 1)/k / bandwidth</c> (ring all-gather).
    /// </summary>
    public static double Seconds(ReshardingPlan plan, IReadOnlyList<int> hostOfDevice, InterOpCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(hostOfDevice);
        ArgumentNullException.ThrowIfNull(cluster);
        return TileSeconds(plan, hostOfDevice, cluster) + AllGatherSeconds(plan, cluster);
    }

    private static double TileSeconds(ReshardingPlan plan, IReadOnlyList<int> hostOf, InterOpCluster cluster)
    {
        var nic = new Dictionary<(int Host, bool Out), long>();
        var link = new Dictionary<(int Device, bool Out), long>();
        var crossed = false;
        var moved = false;
        foreach (var tile in plan.Tiles)
        {
            foreach (var to in tile.Receivers)
            {
                if (to == tile.Source) continue;
                moved = true;
                var (fromHost, toHost) = (hostOf[tile.Source], hostOf[to]);
                if (fromHost != toHost)
                {
                    crossed = true;
                    Add(nic, (fromHost, true), tile.Bytes);
                    Add(nic, (toHost, false), tile.Bytes);
                }
                else
                {
                    Add(link, (tile.Source, true), tile.Bytes);
                    Add(link, (to, false), tile.Bytes);
                }
            }
        }
        if (!moved) return 0;
        var latency = crossed ? cluster.InterHostLatency : cluster.IntraHostLatency;
        var nicSeconds = nic.Count == 0 ? 0 : nic.Values.Max() / cluster.InterHostBandwidth;
        var linkSeconds = link.Count == 0 ? 0 : link.Values.Max() / cluster.IntraHostBandwidth;
        return latency + Math.Max(nicSeconds, linkSeconds);
    }

    private static double AllGatherSeconds(ReshardingPlan plan, InterOpCluster cluster)
    {
        var perDevice = new Dictionary<int, double>();
        foreach (var g in plan.AllGathers)
        {
            var k = g.Devices.Count;
            var seconds = cluster.IntraHostLatency + g.Bytes * (k - 1.0) / k / cluster.IntraHostBandwidth;
            foreach (var d in g.Devices) perDevice[d] = perDevice.GetValueOrDefault(d) + seconds;
        }
        return perDevice.Count == 0 ? 0 : perDevice.Values.Max();
    }

    private static void Add<TKey>(Dictionary<TKey, long> sums, TKey key, long bytes) where TKey : notnull =>
        sums[key] = sums.GetValueOrDefault(key) + bytes;
}
