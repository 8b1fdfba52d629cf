using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Planner;
using Alpa.Planner.Graph;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.DataPlane;
using Alpa.Silo.Hosting.Membership;

namespace Alpa.Silo.Grains;

/// <summary>The per-silo system grain: identity, probes, membership view, counters and link probes.</summary>
public sealed class SiloGrain(SiloIdentity self, MembershipView view, GrainMetrics metrics, TensorSender sender) : ISiloGrain
{
    private static long _nextTransfer = (long)(Stopwatch.GetTimestamp() & 0xFFFFFFFF) << 20;

    public Task<SiloInfo> GetInfoAsync(CancellationToken cancellationToken = default)
    {
        using var process = Process.GetCurrentProcess();
        return Task.FromResult(new SiloInfo
        {
            Address = self.Address,
            Epoch = self.Epoch,
            DataPort = self.DataPort,
            Devices = self.Devices,
            ClusterId = self.ClusterId,
            ProcessId = Environment.ProcessId,
            PeakWorkingSetBytes = process.PeakWorkingSet64,
            TotalAllocatedBytes = GC.GetTotalAllocatedBytes(),
            Insecure = self.Insecure,
        });
    }

    public Task<PingReply> PingAsync(PingRequest request, CancellationToken cancellationToken = default) =>
        Task.FromResult(new PingReply(self.Address, self.Epoch));

    public Task<MembershipSnapshot> GetMembershipAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(view.Snapshot);

    public Task<GrainMetricsReport> GetMetricsAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult(metrics.Report(self.Address));

    /// <summary>Sends <c>Count</c> f32 tensors of <c>Bytes</c> to the target's data plane, timing each until its acknowledgement.</summary>
    public async Task<LinkProbeReply> MeasureLinkAsync(LinkProbeRequest request, CancellationToken cancellationToken = default)
    {
        if (request.Bytes is < 4 or > 1L << 30 || request.Bytes % 4 != 0 || request.Count is < 1 or > 1000)
        {
            throw new AlpaException($"link probe of {request.Count} × {request.Bytes} B: send 1..1000 tensors of 4 B .. 1 GiB (a multiple of 4)");
        }
        var payload = GC.AllocateUninitializedArray<byte>((int)request.Bytes);
        payload.AsSpan().Fill(0x5A); // touch every page before timing
        Random.Shared.NextBytes(payload.AsSpan(0, (int)Math.Min(payload.Length, 1 << 20)));
        var seconds = new List<double>(request.Count);
        for (var i = 0; i < request.Count; i++)
        {
            var header = new TensorHeader((ulong)Interlocked.Increment(ref _nextTransfer), DType.F32, TensorFrameFlags.Probe,
                [request.Bytes / 4], 0, 1, request.Bytes);
            var start = Stopwatch.GetTimestamp();
            await sender.SendAsync(request.Target, header, payload, cancellationToken).ConfigureAwait(false);
            seconds.Add(Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return new LinkProbeReply(request.Bytes, seconds);
    }
}
