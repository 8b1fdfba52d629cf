using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Sharding;

namespace Alpa.Tests.Pipeline;

public sealed class CrossMeshReshardingTests
{
    [Fact]
    public void RandomLayoutsAreCoveredExactlyOnceFromOwners()
    {
        var rng = new Random(61);
        var withGathers = 0;
        for (var trial = 0; trial < 600; trial++)
        {
            var request = RandomRequest(rng, localAllGather: trial % 2 == 0);
            var plan = CrossMeshResharding.Plan(request);
            CheckAgainstBruteForce(request, plan);
            if (plan.AllGathers.Count > 0) withGathers++;
        }
        Assert.True(withGathers > 60, $"only {withGathers} random cases used an all-gather");
    }

    [Fact]
    public void LocalAllGatherCrossesEachHostOnceAndNaiveSendsPerDevice()
    {
        // Source (2,1) on host 0 splits rows; destination (2,4) replicated over hosts 1 and 2.
        var request = Request([8, 4], Spec(DimSharding.S0, DimSharding.R), (2, 1), [0, 1],
            Spec(DimSharding.R, DimSharding.R), (2, 4), [4, 5, 6, 7, 8, 9, 10, 11], devicesPerHost: 4, hosts: 3);
        var gather = CrossMeshResharding.Plan(request);
        var naive = CrossMeshResharding.Plan(request with { LocalAllGather = false });
        const long tensor = 8 * 4 * 4;
        Assert.Equal(2 * tensor, gather.CrossHostBytes);   // once per destination host
        Assert.Equal(8 * tensor, naive.CrossHostBytes);    // once per destination device
        Assert.Equal(4, gather.AllGathers.Count);          // 2 source blocks × 2 hosts
        Assert.Equal(2 * 3 * tensor, gather.AllGatherBytes);
        Assert.Empty(naive.AllGathers);
        // Both source devices send: each owns one half.
        Assert.Equal([0, 1], gather.Tiles.Select(t => t.Source).Distinct().Order());
    }

    [Fact]
    public void ReplicatedSourceSpreadsTheLoadOverItsReplicas()
    {
        var request = Request([16, 8], Spec(DimSharding.R, DimSharding.R), (1, 4), [0, 1, 2, 3],
            Spec(DimSharding.S1, DimSharding.R), (1, 4), [4, 5, 6, 7], devicesPerHost: 4, hosts: 2);
        var plan = CrossMeshResharding.Plan(request);
        Assert.Equal(4, plan.Tiles.Count);
        Assert.Equal([0, 1, 2, 3], plan.Tiles.Select(t => t.Source).Order());
        Assert.Equal(16 * 8 * 4, plan.CrossHostBytes);
    }

    [Fact]
    public void SendersOnTheReceiversHostAreChosenFirst()
    {
        // Replicated source over hosts 0 and 1; the destination lives on host 1.
        var request = Request([4, 4], Spec(DimSharding.R, DimSharding.R), (2, 2), [0, 1, 4, 5],
            Spec(DimSharding.S0, DimSharding.R), (2, 1), [6, 7], devicesPerHost: 4, hosts: 2);
        var plan = CrossMeshResharding.Plan(request);
        Assert.Equal(0, plan.CrossHostBytes);
        Assert.Equal([4, 5], plan.Tiles.Select(t => t.Source).Order());
        Assert.Equal(4 * 4 * 4, plan.BytesSent);
        // A destination device that already owns its part copies it locally.
        var local = CrossMeshResharding.Plan(request with { Destination = request.Destination with { Devices = [4, 5] } });
        Assert.All(local.Tiles, t => Assert.Equal(t.Receivers[0], t.Source));
        Assert.Equal(0, local.BytesSent);
    }

    [Fact]
    public void CostChargesTheBusiestNicAndTheAllGathers()
    {
        var cluster = new InterOpCluster
        {
            Hosts = 2, DevicesPerHost = 8, DeviceMemoryBytes = 1L << 34,
            IntraHostBandwidth = 100e9, InterHostBandwidth = 1e9, IntraHostLatency = 0, InterHostLatency = 0,
        };
        var request = Request([1024, 1024], Spec(DimSharding.R, DimSharding.R), (1, 8), [.. Enumerable.Range(0, 8)],
            Spec(DimSharding.R, DimSharding.R), (1, 8), [.. Enumerable.Range(8, 8)], devicesPerHost: 8, hosts: 2);
        const double bytes = 1024 * 1024 * 4;
        var hosts = CrossMeshResharding.HostMap(cluster);
        var gather = CrossMeshResharding.Seconds(CrossMeshResharding.Plan(request), hosts, cluster);
        var naive = CrossMeshResharding.Seconds(CrossMeshResharding.Plan(request with { LocalAllGather = false }), hosts, cluster);
        Assert.Equal(bytes / 1e9 + bytes * 7 / 8 / 100e9, gather, 9);
        Assert.Equal(8 * bytes / 1e9, naive, 9);
    }

    [Fact]
    public void SameRequestGivesTheSamePlan()
    {
        var a = CrossMeshResharding.Plan(RandomRequest(new Random(5), true));
        var b = CrossMeshResharding.Plan(RandomRequest(new Random(5), true));
        Assert.Equal(Describe(a), Describe(b));
    }

    [Fact]
    public void BadLayoutsSayWhatIsWrong()
    {
        var ok = Request([6, 4], Spec(DimSharding.S0, DimSharding.R), (2, 1), [0, 1],
            Spec(DimSharding.R, DimSharding.S1), (1, 2), [2, 3], devicesPerHost: 2, hosts: 2);
        var notDividing = ok with { Destination = ok.Destination with { Spec = Spec(DimSharding.R, DimSharding.S1), Mesh = new LogicalMeshShape(1, 2) }, Shape = new Shape(6, 3) };
        Assert.Contains("does not divide", Assert.Throws<ShardingSpecException>(() => CrossMeshResharding.Plan(notDividing)).Message);
        var wrongCount = ok with { Source = ok.Source with { Devices = [0] } };
        Assert.Contains("needs 2 device ids", Assert.Throws<ArgumentException>(() => CrossMeshResharding.Plan(wrongCount)).Message);
        var noHost = ok with { HostOfDevice = [0, 0, 1] };
        Assert.Contains("no host", Assert.Throws<ArgumentException>(() => CrossMeshResharding.Plan(noHost)).Message);
    }

    private static string Describe(ReshardingPlan plan) =>
        string.Join(';', plan.Tiles.Select(t => $"{string.Join(',', t.Offset)}/{string.Join(',', t.Shape)}:{t.Source}>{string.Join(',', t.Receivers)}"))
        + "|" + string.Join(';', plan.AllGathers.Select(g => $"{string.Join(',', g.Offset)}:{string.Join(',', g.Devices)}"));

    private static ShardingSpec Spec(params DimSharding[] dims) => ShardingSpec.Create(dims);

    private static ReshardingRequest Request(long[] shape, ShardingSpec src, (int, int) srcMesh, int[] srcDevices,
        ShardingSpec dst, (int, int) dstMesh, int[] dstDevices, int devicesPerHost, int hosts) => new()
        {
            Shape = new Shape(shape), ElementBytes = 4,
            Source = new ReshardingSide(src, new LogicalMeshShape(srcMesh.Item1, srcMesh.Item2), srcDevices),
            Destination = new ReshardingSide(dst, new LogicalMeshShape(dstMesh.Item1, dstMesh.Item2), dstDevices),
            HostOfDevice = [.. Enumerable.Range(0, hosts * devicesPerHost).Select(d => d / devicesPerHost)],
        };

    private static ReshardingRequest RandomRequest(Random rng, bool localAllGather)
    {
        var perHost = 1 << rng.Next(1, 4);
        var pool = Enumerable.Range(0, 16).ToArray();
        var rank = rng.Next(1, 4);
        var (src, srcMesh) = RandomSide(rng, rank);
        var (dst, dstMesh) = RandomSide(rng, rank);
        var shape = new long[rank];
        for (var d = 0; d < rank; d++)
            shape[d] = Lcm(Parts(src, srcMesh, d), Parts(dst, dstMesh, d)) * rng.Next(1, 3);
        var srcDevices = pool.OrderBy(_ => rng.Next()).Take(srcMesh.Count).ToArray();
        var dstDevices = pool.OrderBy(_ => rng.Next()).Take(dstMesh.Count).ToArray();
        return new ReshardingRequest
        {
            Shape = new Shape(shape), ElementBytes = 2, LocalAllGather = localAllGather,
            Source = new ReshardingSide(src, srcMesh, srcDevices), Destination = new ReshardingSide(dst, dstMesh, dstDevices),
            HostOfDevice = [.. pool.Select(d => d / perHost)],
        };
    }

    private static (ShardingSpec, LogicalMeshShape) RandomSide(Random rng, int rank)
    {
        var mesh = new LogicalMeshShape(rng.Next(1, 4), rng.Next(1, 4));
        var dims = new DimSharding[rank];
        var a0 = rng.Next(-1, rank);
        var a1 = rng.Next(-1, rank);
        if (a0 >= 0) dims[a0] = DimSharding.S0;
        if (a1 >= 0) dims[a1] = a1 == a0 ? DimSharding.S01 : DimSharding.S1;
        return (ShardingSpec.Create(dims), mesh);
    }

    private static int Parts(ShardingSpec spec, LogicalMeshShape mesh, int dim) => spec[dim] switch
    {
        DimSharding.S0 => mesh.N0,
        DimSharding.S1 => mesh.N1,
        DimSharding.S01 => mesh.Count,
        _ => 1,
    };

    private static long Lcm(long a, long b)
    {
        static long Gcd(long x, long y) => y == 0 ? x : Gcd(y, x % y);
        return a / Gcd(a, b) * b;
    }

    /// <summary>Element-by-element replay: tiles from owners, then all-gathers; every needed element exactly once.</summary>
    private static void CheckAgainstBruteForce(ReshardingRequest r, ReshardingPlan plan)
    {
        var shape = r.Shape.ToArray();
        var elements = (int)r.Shape.Elements;
        var fromTiles = r.Destination.Devices.ToDictionary(d => d, _ => new int[elements]);
        long sent = 0, crossing = 0;
        foreach (var tile in plan.Tiles)
        {
            var k = IndexOf(r.Source.Devices, tile.Source);
            foreach (var e in Elements(shape, tile.Offset, tile.Shape))
                Assert.True(Owns(r.Source, shape, k, e), $"device {tile.Source} sends element {e} it does not own");
            foreach (var to in tile.Receivers)
            {
                foreach (var e in Elements(shape, tile.Offset, tile.Shape)) fromTiles[to][e]++;
                if (to == tile.Source) continue;
                sent += tile.Bytes;
                if (r.HostOfDevice[to] != r.HostOfDevice[tile.Source]) crossing += tile.Bytes;
            }
        }
        var final = fromTiles.ToDictionary(p => p.Key, p => (int[])p.Value.Clone());
        foreach (var g in plan.AllGathers)
        {
            Assert.Single(g.Devices.Select(d => r.HostOfDevice[d]).Distinct());
            foreach (var e in Elements(shape, g.Offset, g.Shape))
                foreach (var d in g.Devices)
                    final[d][e] += g.Devices.Where(p => p != d).Sum(p => fromTiles[p][e]);
        }
        for (var k = 0; k < r.Destination.Devices.Count; k++)
        {
            var counts = final[r.Destination.Devices[k]];
            for (var e = 0; e < elements; e++)
                Assert.Equal(Owns(r.Destination, shape, k, e) ? 1 : 0, counts[e]);
        }
        Assert.Equal(sent, plan.BytesSent);
        Assert.Equal(crossing, plan.CrossHostBytes);
    }

    private static int IndexOf(IReadOnlyList<int> devices, int id)
    {
        for (var k = 0; k < devices.Count; k++) if (devices[k] == id) return k;
        throw new InvalidOperationException($"device {id} is not on the mesh");
    }

    private static bool Owns(ReshardingSide side, long[] shape, int k, int element)
    {
        var (n0, n1) = (side.Mesh.N0, side.Mesh.N1);
        var (i, j) = (k / n1, k % n1);
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            var index = element % shape[d];
            element = (int)(element / shape[d]);
            var (parts, block) = side.Spec[d] switch
            {
                DimSharding.S0 => (n0, i),
                DimSharding.S1 => (n1, j),
                DimSharding.S01 => (n0 * n1, i * n1 + j),
                _ => (1, 0),
            };
            if (index / (shape[d] / parts) != block) return false;
        }
        return true;
    }

    private static IEnumerable<int> Elements(long[] shape, IReadOnlyList<long> offset, IReadOnlyList<long> extent)
    {
        var rank = shape.Length;
        var total = extent.Aggregate(1L, (a, b) => a * b);
        for (long n = 0; n < total; n++)
        {
            long rest = n, flat = 0, stride = 1;
            for (var d = rank - 1; d >= 0; d--)
            {
                flat += (offset[d] + rest % extent[d]) * stride;
                rest /= extent[d];
                stride *= shape[d];
            }
            yield return (int)flat;
        }
    }
}
