using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Sharding;
using Alpa.Silo.Execution.Collectives;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Cross-mesh resharding executed over real data-plane sockets between three silos (one host each, two
/// devices per host): every destination shard holds the right values, and the bytes that crossed hosts
/// equal the planner's prediction — with local all-gather fewer than with plain send/recv.
/// </summary>
public sealed class CrossMeshTransferTests
{
    private static readonly int[] HostOfDevice = [0, 0, 1, 1, 2, 2];

    [Fact]
    public async Task ReplicatedDestination_LocalAllGatherSendsFewerCrossHostBytes_BothAsPlanned()
    {
        await using var silos = await LoopbackSilos.StartAsync(3);
        var source = Side([DimSharding.S1, DimSharding.R], 1, 2, [0, 1]);
        var destination = Side([DimSharding.R, DimSharding.R], 2, 2, [2, 3, 4, 5]);
        var plain = await RunAsync(silos, Request([8, 6], source, destination, localAllGather: false), key: 1);
        var gathered = await RunAsync(silos, Request([8, 6], source, destination, localAllGather: true), key: 2);

        Assert.Equal(4 * 192, plain.Planned.CrossHostBytes);
        Assert.Equal(2 * 192, gathered.Planned.CrossHostBytes);
        Assert.Equal(plain.Planned.CrossHostBytes, plain.Measured.CrossHostBytes);
        Assert.Equal(gathered.Planned.CrossHostBytes, gathered.Measured.CrossHostBytes);
        Assert.Equal(gathered.Planned.AllGatherBytes, gathered.Measured.AllGatherBytes);
        Assert.Equal(0, plain.Measured.AllGatherBytes);
        Assert.True(gathered.Measured.CrossHostBytes < plain.Measured.CrossHostBytes);
        // What the sockets carried is what was counted.
        Assert.Equal(plain.Measured.CrossHostBytes, plain.WireBytes);
        Assert.Equal(gathered.Measured.CrossHostBytes, gathered.WireBytes);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MeshesSpanningSilos_ReceiveTheRightShards(bool localAllGather)
    {
        await using var silos = await LoopbackSilos.StartAsync(3);
        // Source (2,2) over hosts 0 and 1; destination (1,2) over hosts 1 and 2, half of it replicated.
        var source = Side([DimSharding.S0, DimSharding.S1], 2, 2, [0, 1, 2, 3]);
        var destination = Side([DimSharding.S1, DimSharding.R], 2, 2, [3, 4, 5, 1]);
        var run = await RunAsync(silos, Request([12, 10], source, destination, localAllGather), key: 3);
        Assert.Equal(run.Planned.CrossHostBytes, run.Measured.CrossHostBytes);
        Assert.Equal(run.Planned.AllGatherBytes, run.Measured.AllGatherBytes);
    }

    private static ReshardingSide Side(DimSharding[] spec, int n0, int n1, int[] devices) =>
        new(ShardingSpec.Create(spec), new LogicalMeshShape(n0, n1), devices);

    private static ReshardingRequest Request(long[] shape, ReshardingSide source, ReshardingSide destination, bool localAllGather) => new()
    {
        Shape = new Shape(shape), ElementBytes = 4, Source = source, Destination = destination,
        HostOfDevice = HostOfDevice, LocalAllGather = localAllGather,
    };

    private sealed record Outcome(ReshardingPlan Planned, ReshardingTraffic Measured, long WireBytes);

    /// <summary>Plans, runs on every silo at once, checks every destination shard against the global tensor, sums the silos' counts.</summary>
    private static async Task<Outcome> RunAsync(LoopbackSilos silos, ReshardingRequest request, ulong key)
    {
        var plan = CrossMeshResharding.Plan(request);
        var wireBefore = Enumerable.Range(0, 3).Sum(s => silos.Peers(s).Bytes.Sent);
        using var device = new CpuDevice(0);
        var global = Enumerable.Range(0, (int)request.Shape.Elements).Select(i => (float)i).ToArray();
        var sources = request.Source.Devices.ToDictionary(d => d, d => Shard(device, request, request.Source, d, global));
        var destinations = request.Destination.Devices.ToDictionary(d => d, d => Allocate(device, request, request.Destination));
        var reports = await Task.WhenAll(Enumerable.Range(0, 3).Select(s =>
        {
            bool Here(int d) => HostOfDevice[d] == s;
            var transfer = new CrossMeshTransfer(request, plan, silos.Addresses, silos.Peers(s)) { Timeout = TimeSpan.FromSeconds(20) };
            return transfer.RunAsync(sources.Where(p => Here(p.Key)).ToDictionary(), destinations.Where(p => Here(p.Key)).ToDictionary(), key, tag: 5);
        }));
        foreach (var (d, shard) in destinations)
        {
            var expected = Shard(device, request, request.Destination, d, global);
            Assert.Equal(expected.Floats().ToArray(), shard.Floats().ToArray());
            expected.Dispose();
        }
        foreach (var t in sources.Values.Concat(destinations.Values)) t.Dispose();
        var measured = new ReshardingTraffic
        {
            CrossHostBytes = reports.Sum(r => r.CrossHostBytes),
            IntraHostBytes = reports.Sum(r => r.IntraHostBytes),
            AllGatherBytes = reports.Sum(r => r.AllGatherBytes),
        };
        return new Outcome(plan, measured, Enumerable.Range(0, 3).Sum(s => silos.Peers(s).Bytes.Sent) - wireBefore);
    }

    private static Tensor Allocate(Device device, ReshardingRequest request, ReshardingSide side) =>
        device.Allocate(ElementType.F32, LocalShape(request, side));

    private static long[] LocalShape(ReshardingRequest request, ReshardingSide side)
    {
        var shape = request.Shape.ToArray();
        for (var d = 0; d < shape.Length; d++)
            shape[d] /= side.Spec[d] switch
            {
                DimSharding.S0 => side.Mesh.N0,
                DimSharding.S1 => side.Mesh.N1,
                DimSharding.S01 => side.Mesh.N0 * side.Mesh.N1,
                _ => 1,
            };
        return shape;
    }

    /// <summary>Device <paramref name="d"/>'s block of the rank-2 global tensor under <paramref name="side"/>.</summary>
    private static Tensor Shard(Device device, ReshardingRequest request, ReshardingSide side, int d, float[] global)
    {
        var local = LocalShape(request, side);
        var offset = RegionCopy.BlockOffset(side, request.Shape, d);
        var t = device.Allocate(ElementType.F32, local);
        var f = t.Floats();
        for (var i = 0; i < local[0]; i++)
            for (var j = 0; j < local[1]; j++)
                f[(int)((i * local[1]) + j)] = global[(int)(((offset[0] + i) * request.Shape[1]) + offset[1] + j)];
        return t;
    }
}
