using System.Collections.Concurrent;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Planner;
using Alpa.Planner.Cluster;
using Alpa.Silo.Execution.Cluster;
using Alpa.Silo.Hosting.Membership;

namespace Alpa.Silo.Grains;

/// <summary>
/// Plans jobs for the silos (see <see cref="IPlannerGrain"/>). Profiling: every silo's devices through its
/// <see cref="IProfilerGrain"/> one after another (silos on one machine would otherwise measure each other),
/// then each link silo i → silo i+1 (a ring for 3 or more) over the data plane with
/// <see cref="ISiloGrain.MeasureLinkAsync"/>: small transfers give the latency, 8 MiB ones the rate (reused for 10 min).
/// <see cref="ProfiledCluster.Combine"/> turns that into the cluster spec; the plan and the simulated step
/// time come from Alpa.Planner; plans are cached by (model, microbatches, spec).
/// </summary>
public sealed class PlannerGrain(IGrainFactory grains, MembershipView view) : IPlannerGrain
{
    private const long LargeTransferBytes = 8L << 20;
    /// <summary>How long a measured link is reused (links are shared with other jobs; re-measure now and then).</summary>
    private static readonly TimeSpan LinkTtl = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<string, PlanReply> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string From, string To), (SiloLinkProfile Link, DateTime At)> _links = new();

    public async Task<PlanReply> PlanAsync(PlanRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Silos.Count == 0) throw new AlpaException("plan: name at least one silo");
        foreach (var silo in request.Silos)
            if (view.ActiveRow(silo) is null) throw new AlpaException($"plan: silo {silo} is not active in the cluster membership");
        var profile = new List<string>();
        var given = request.PlanJson is { } text ? Planner.Plans.PlanJson.Read(text) : null;
        var cluster = request.ClusterJson is { } spec ? ClusterJson.Parse(spec)
            : given is not null ? ClusterJob.Cluster(request.Silos.Count, await DevicesAsync(request.Silos, cancellationToken).ConfigureAwait(false))
            : await ProfileAsync(request.Silos, profile, cancellationToken).ConfigureAwait(false);
        if (cluster.Hosts != request.Silos.Count)
            throw new AlpaException($"plan: the cluster spec has {cluster.Hosts} host(s) for {request.Silos.Count} silo(s)");
        var clusterJson = ClusterJson.Write(cluster);
        var key = $"{request.Model}|{request.Microbatches}|{request.Stages}|{string.Join(",", request.Silos)}|{clusterJson}|{request.PlanJson}";
        if (_cache.TryGetValue(key, out var cached)) return cached with { FromCache = true, Profile = profile };
        var plan = ClusterJob.MakePlan(request.Model, cluster, request.Microbatches, new ClusterLayout { Stages = request.Stages, Plan = given });
        var reply = new PlanReply(Planner.Plans.PlanJson.Write(plan), false, clusterJson, request.Silos, cluster.DevicesPerHost, plan.StepSeconds, profile);
        _cache[key] = reply;
        return reply;
    }

    /// <summary>The device count every silo reports (a given plan is checked against it); silos with different counts are refused.</summary>
    private async Task<int> DevicesAsync(IReadOnlyList<string> silos, CancellationToken token)
    {
        var counts = new List<(string Silo, int Devices)>();
        foreach (var silo in silos)
            counts.Add((silo, (await grains.GetGrain<IMeshWorkerGrain>(silo).GetInfoAsync(token).ConfigureAwait(false)).Devices.Count));
        if (counts.Select(c => c.Devices).Distinct().Count() != 1)
            throw new AlpaException($"plan: the silos have different device counts ({string.Join(", ", counts.Select(c => $"{c.Silo}: {c.Devices}"))}); a cluster job needs equal ones");
        return counts[0].Devices;
    }

    /// <summary>Measures the silos' devices and links and combines them; <paramref name="notes"/> gets one line per measurement.</summary>
    private async Task<ClusterSpec> ProfileAsync(IReadOnlyList<string> silos, List<string> notes, CancellationToken token)
    {
        var devices = new List<SiloDeviceProfile>();
        foreach (var silo in silos)
        {
            var p = await grains.GetGrain<IProfilerGrain>(silo).ProfileDevicesAsync(token).ConfigureAwait(false);
            devices.Add(new SiloDeviceProfile(p.Silo, p.Devices, p.GemmFlops, p.CopyBytesPerSecond, p.MemoryBytesPerDevice));
            notes.Add($"{silo}: {p.Devices} device(s), GEMM {p.GemmFlops / 1e9:F1} GFLOP/s, copy {p.CopyBytesPerSecond / (1L << 30):F2} GiB/s" +
                      (p.FromCache ? " (cached)" : $" (measured in {p.MeasureSeconds:F2} s)"));
        }
        var links = new List<SiloLinkProfile>();
        var pairs = silos.Count switch { 1 => 0, 2 => 1, _ => silos.Count };
        for (var i = 0; i < pairs; i++)
        {
            var pair = (silos[i], silos[(i + 1) % silos.Count]);
            var cached = _links.TryGetValue(pair, out var known) && DateTime.UtcNow - known.At < LinkTtl;
            var link = cached ? known.Link : await MeasureLinkAsync(pair.Item1, pair.Item2, token).ConfigureAwait(false);
            if (!cached) _links[pair] = (link, DateTime.UtcNow);
            links.Add(link);
            notes.Add($"{link.From} → {link.To}: latency {link.LatencySeconds * 1e6:F0} µs, {link.BytesPerSecond / (1L << 30):F2} GiB/s{(cached ? " (cached)" : "")}");
        }
        return ProfiledCluster.Combine(devices, links);
    }

    private async Task<SiloLinkProfile> MeasureLinkAsync(string from, string to, CancellationToken token)
    {
        var sender = grains.GetGrain<ISiloGrain>(from);
        var small = await sender.MeasureLinkAsync(new LinkProbeRequest(to, 4, 9), token).ConfigureAwait(false);
        var large = await sender.MeasureLinkAsync(new LinkProbeRequest(to, LargeTransferBytes, 4), token).ConfigureAwait(false);
        var latency = Median(small.Seconds.Skip(1));
        var seconds = Median(large.Seconds.Skip(1));
        return new SiloLinkProfile(from, to, latency, LargeTransferBytes / Math.Max(seconds - latency, 1e-9));
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }
}
