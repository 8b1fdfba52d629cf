using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Hosting;

namespace Alpa.Silo.Grains;

/// <summary>Runs cross-silo all-reduces on this silo's CPU devices over the data plane (see <see cref="ICollectiveGrain"/>).</summary>
public sealed class CollectiveGrain(SiloIdentity self, DataPlanePeers peers) : ICollectiveGrain
{
    public async Task<CollectiveRunReply> RunAllReduceAsync(CollectiveRunRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var index = Validate(request);
        var d = request.DevicesPerSilo;
        var placement = RankPlacement.Blocked(request.Silos, d, self.Address);
        var options = new CollectiveOptions { Tag = request.Tag, CallTimeout = TimeSpan.FromSeconds(request.TimeoutSeconds) };
        using var comm = new ClusterCollectives(placement, peers, options, cancellationToken);
        var devices = Enumerable.Range(0, d).Select(k => new CpuDevice(k)).ToArray();
        var tensors = devices.Select(device => device.Allocate(ElementType.F32, [request.Elements])).ToArray();
        try
        {
            var ranks = Enumerable.Range(0, placement.WorldSize).ToArray();
            var seconds = new List<double>(request.Iterations);
            var sentBefore = peers.Bytes.Sent;
            for (var k = 0; k < d; k++) Fill(tensors[k], (index * d) + k);
            for (var it = 0; it < request.Iterations; it++)
            {
                var start = Stopwatch.GetTimestamp();
                await comm.AllReduceAsync(ranks, tensors, cancellationToken: cancellationToken).ConfigureAwait(false);
                seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
            }
            double checksum = 0;
            foreach (var v in tensors[0].Floats()) checksum += v;
            return new CollectiveRunReply(self.Address, seconds, checksum, peers.Bytes.Sent - sentBefore);
        }
        finally
        {
            foreach (var t in tensors) t.Dispose();
            foreach (var device in devices) device.Dispose();
        }
    }

    private int Validate(CollectiveRunRequest r)
    {
        var index = r.Silos.ToList().IndexOf(self.Address);
        if (index < 0) throw new AlpaException($"silo {self.Address} is not among the run's silos [{string.Join(", ", r.Silos)}]");
        if (r.DevicesPerSilo is < 1 or > 64 || r.Elements is < 1 or > 1L << 28 || r.Iterations is < 1 or > 1_000_000 || r.TimeoutSeconds <= 0)
            throw new AlpaException("collective run: give 1..64 devices per silo, 1 .. 2^28 elements, 1 .. 10^6 iterations and a positive timeout");
        return index;
    }

    private static void Fill(Tensor t, int rank)
    {
        var f = t.Floats();
        for (var i = 0; i < f.Length; i++) f[i] = CollectiveRunReply.Input(rank, i);
    }
}
