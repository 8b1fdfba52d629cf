using System.Collections.Concurrent;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Silo.Execution.Collectives;
using static Alpa.Tests.CrossSilo.CrossSiloHarness;

namespace Alpa.Tests.CrossSilo;

/// <summary>
/// Cross-silo collectives over real data-plane sockets on loopback (three silos in this process, six
/// ranks placed A B C A B C) against the in-process implementation on the same inputs.
/// </summary>
public sealed class ClusterCollectivesTests
{
    private const int Silos = 3;
    private static readonly int[][] Groups = [[0, 1, 2, 3, 4, 5], [5, 0, 3, 1], [1, 4], [2, 3]];
    private static readonly string[] Kinds = ["all-reduce-sum", "all-reduce-max", "all-gather", "reduce-scatter", "all-to-all"];

    [Fact]
    public async Task EveryCollective_AgreesWithInProcess_OnGroupsThatMixSilos()
    {
        await using var silos = await LoopbackSilos.StartAsync(Silos);
        var siloOf = Enumerable.Range(0, 6).Select(r => silos.Addresses[r % Silos]).ToArray();
        var results = new ConcurrentDictionary<(string, int, int), float[]>();
        var traffic = new ConcurrentDictionary<int, CollectiveTraffic>();
        var errors = Run(silos, siloOf, (s, comm) =>
        {
            using var device = new CpuDevice(s);
            for (var g = 0; g < Groups.Length; g++)
                foreach (var kind in Kinds)
                    if (Groups[g].Any(r => r % Silos == s))
                        foreach (var (rank, output) in RunCase(comm, device, kind, Groups[g], r => r % Silos == s))
                            results[(kind, g, rank)] = output;
            for (var r = s; r < 6; r += Silos) traffic[r] = comm.Traffic(r);
        });
        Assert.All(errors, e => Assert.Null(e));

        var reference = new SharedMemoryCollectives(6);
        using var one = new CpuDevice(7);
        for (var g = 0; g < Groups.Length; g++)
        {
            foreach (var kind in Kinds)
            {
                foreach (var (rank, expected) in RunCase(reference, one, kind, Groups[g], _ => true))
                {
                    var actual = results[(kind, g, rank)];
                    if (kind is "all-reduce-sum" or "reduce-scatter")
                        Assert.True(RelativeError(actual, expected) <= 1e-6, $"{kind} on group {g}, rank {rank}: {RelativeError(actual, expected):E2}");
                    else
                        Assert.Equal(expected, actual);
                }
            }
        }
        for (var r = 0; r < 6; r++) Assert.Equal(reference.Traffic(r), traffic[r]);
    }

    [Fact]
    public async Task AllReduce_IsBitReproducible_AndIdenticalOnEveryMember()
    {
        await using var silos = await LoopbackSilos.StartAsync(Silos);
        var siloOf = Enumerable.Range(0, 6).Select(r => silos.Addresses[r / 2]).ToArray();
        var runs = new ConcurrentDictionary<(int Run, int Rank), float[]>();
        for (var run = 0; run < 2; run++)
        {
            var errors = Run(silos, siloOf, (s, comm) =>
            {
                using var device = new CpuDevice(s);
                var mine = new[] { 2 * s, (2 * s) + 1 };
                var tensors = mine.Select(r => Filled(device, [1001], Values(r, 1001, 5))).ToArray();
                comm.AllReduce([0, 1, 2, 3, 4, 5], tensors);
                for (var i = 0; i < 2; i++) runs[(run, mine[i])] = tensors[i].Floats().ToArray();
                foreach (var t in tensors) t.Dispose();
            }, new CollectiveOptions { Tag = run + 1 });
            Assert.All(errors, e => Assert.Null(e));
        }
        for (var r = 0; r < 6; r++)
        {
            Assert.Equal(runs[(0, 0)], runs[(0, r)]);
            Assert.Equal(runs[(0, r)], runs[(1, r)]);
        }
    }

    [Fact]
    public async Task RingAllReduce_SendsTwoThirdsOfTheTensorPerSilo_AndCountsRanksLikeInProcess()
    {
        await using var silos = await LoopbackSilos.StartAsync(Silos);
        var siloOf = Enumerable.Range(0, 6).Select(r => silos.Addresses[r / 2]).ToArray();
        var traffic = new CollectiveTraffic[6];
        var errors = Run(silos, siloOf, (s, comm) =>
        {
            using var device = new CpuDevice(s);
            var tensors = new[] { 2 * s, (2 * s) + 1 }.Select(r => Filled(device, [3000], Values(r, 3000, 3))).ToArray();
            comm.AllReduce([0, 1, 2, 3, 4, 5], tensors);
            traffic[2 * s] = comm.Traffic(2 * s);
            traffic[(2 * s) + 1] = comm.Traffic((2 * s) + 1);
        });
        Assert.All(errors, e => Assert.Null(e));
        // Each silo sends 2(S − 1)/S of the 12,000-byte tensor once for its two ranks.
        for (var s = 0; s < Silos; s++) Assert.Equal((16000L, 16000L), silos.Peers(s).Bytes);
        // Per rank, the ring-equivalent count of the in-process implementation: 2(n − 1)/n with n = 6.
        Assert.All(traffic, t => Assert.Equal(new CollectiveTraffic { BytesSent = 20000, BytesReceived = 20000, Calls = 1 }, t));
    }

    [Fact]
    public async Task SendRecv_CrossesSilos_AndCopiesWithinOne()
    {
        await using var silos = await LoopbackSilos.StartAsync(2);
        var siloOf = new[] { silos.Addresses[0], silos.Addresses[1], silos.Addresses[0] };
        var payload = Values(0, 4096, 9);
        float[]? across = null, within = null;
        var errors = Run(silos, siloOf, (s, comm) =>
        {
            using var device = new CpuDevice(s);
            if (s == 0)
            {
                using var sent = Filled(device, [64, 64], payload);
                using var copy = device.Allocate(ElementType.F32, [64, 64]);
                comm.SendRecv(0, sent, 1, null!);
                comm.SendRecv(0, sent, 2, copy);
                within = copy.Floats().ToArray();
            }
            else
            {
                using var received = device.Allocate(ElementType.F32, [64, 64]);
                comm.SendRecv(0, null!, 1, received);
                across = received.Floats().ToArray();
            }
        });
        Assert.All(errors, e => Assert.Null(e));
        Assert.Equal(payload, across);
        Assert.Equal(payload, within);
    }

    [Fact]
    public async Task BadCalls_AreRefusedWithWhatToFix()
    {
        await using var silos = await LoopbackSilos.StartAsync(2);
        var siloOf = new[] { silos.Addresses[0], silos.Addresses[1] };
        using var comm = new ClusterCollectives(new RankPlacement(siloOf, silos.Addresses[0]), silos.Peers(0));
        using var device = new CpuDevice(0);
        using var t = device.Allocate(ElementType.F32, [4]);
        var noMember = Assert.Throws<KernelException>(() => comm.AllReduce([1], [t]));
        Assert.Contains("no member of group [1] lives on silo", noMember.Message);
        var count = Assert.Throws<KernelException>(() => comm.AllReduce([0, 1], [t, t, t]));
        Assert.Contains("give one per member or one per local member", count.Message);
        Assert.Throws<KernelException>(() => new ClusterCollectives(new RankPlacement(siloOf, silos.Addresses[1]), silos.Peers(0)));
        Assert.Throws<KernelException>(() => new ClusterCollectives(new RankPlacement(siloOf, silos.Addresses[0]), silos.Peers(0),
            new CollectiveOptions { Tag = 0xFFFF }));
    }

    /// <summary>Runs one collective of <paramref name="kind"/> with the members <paramref name="local"/> selects; returns each such member's output.</summary>
    private static List<(int Rank, float[] Output)> RunCase(ICollectives comm, Device device, string kind, int[] group, Func<int, bool> local)
    {
        var n = group.Length;
        var mine = group.Where(local).ToArray();
        var salt = (Array.IndexOf(Kinds, kind) * 100) + n;
        Tensor[] Inputs(long[] shape) => [.. mine.Select(r => Filled(device, shape, Values(r, shape.Aggregate(1L, (a, d) => a * d), salt)))];
        Tensor[] Outputs(long[] shape) => [.. mine.Select(_ => device.Allocate(ElementType.F32, shape))];
        Tensor[] inputs, outputs;
        switch (kind)
        {
            case "all-reduce-sum" or "all-reduce-max":
                inputs = outputs = Inputs([7, 5]);
                comm.AllReduce(group, inputs, kind == "all-reduce-sum" ? CollectiveReduce.Sum : CollectiveReduce.Max);
                break;
            case "all-gather":
                (inputs, outputs) = (Inputs([3, 2]), Outputs([3, 2 * n]));
                comm.AllGather(group, inputs, outputs, 1);
                break;
            case "reduce-scatter":
                (inputs, outputs) = (Inputs([2 * n, 3]), Outputs([2, 3]));
                comm.ReduceScatter(group, inputs, outputs, 0);
                break;
            default:
                (inputs, outputs) = (Inputs([2 * n, 3]), Outputs([2, 3 * n]));
                comm.AllToAll(group, inputs, outputs, 0, 1);
                break;
        }
        var result = mine.Select((r, i) => (r, outputs[i].Floats().ToArray())).ToList();
        foreach (var t in inputs.Concat(outputs).Distinct()) t.Dispose();
        return result;
    }
}
