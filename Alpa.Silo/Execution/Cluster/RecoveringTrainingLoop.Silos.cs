using System.Diagnostics;
using Alpa.Client;
using Alpa.Client.Contracts;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>Which silos are alive: active in membership and answering a mesh-worker probe within the timeout.</summary>
public sealed partial class RecoveringTrainingLoop
{
    private int _devices;

    /// <summary>Active silos of the cluster as membership lists them (the usual <c>members</c> source of the loop).</summary>
    public static async Task<IReadOnlyList<string>> ActiveSilosAsync(AlpaClient client, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var listing = await client.GetClusterAsync(cancellationToken).ConfigureAwait(false);
        return [.. listing.Silos.Where(s => s.Status == "active").Select(s => s.Address).Distinct()];
    }

    /// <summary>
    /// Live silos with the job's device count, those in <paramref name="preferred"/> first (in that order), then
    /// the others by address (so a re-plan is reproducible); the first call fixes the device count from the
    /// first silo that answers.
    /// </summary>
    private async Task<(List<string> Silos, int Devices)> LiveSilosAsync(IReadOnlyList<string> preferred, CancellationToken cancellationToken)
    {
        var listed = await members(cancellationToken).ConfigureAwait(false);
        var candidates = preferred.Concat(listed.Except(preferred, StringComparer.Ordinal).Order(StringComparer.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        var infos = await Task.WhenAll(candidates.Select(s => ProbeAsync(s, cancellationToken))).ConfigureAwait(false);
        if (_devices == 0) _devices = infos.FirstOrDefault(i => i is not null)?.Devices.Count ?? 0;
        var live = candidates.Where((s, i) => infos[i] is { } info && info.Devices.Count == _devices).ToList();
        return (live, _devices);
    }

    /// <summary>
    /// The silos to start on: <see cref="RecoveringTrainingOptions.Silos"/> or every active silo; asks up to
    /// three times while some do not answer (a loaded silo may miss one probe).
    /// </summary>
    private async Task<(List<string> Silos, int Devices)> StartingSilosAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (live, devices) = await LiveSilosAsync(options.Silos ?? [], cancellationToken).ConfigureAwait(false);
            if (options.Silos is { } wanted) live = [.. live.Where(wanted.Contains)];
            if (attempt == 3 || (live.Count > 0 && live.Count >= (options.Silos?.Count ?? 0))) return (live, devices);
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The mesh worker's answer, or null when the silo does not answer within the probe timeout.</summary>
    private async Task<MeshWorkerInfo?> ProbeAsync(string silo, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(options.ProbeTimeout);
        try
        {
            return await grains.GetGrain<IMeshWorkerGrain>(silo).GetInfoAsync(cts.Token).WaitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>The job's silos that still answer (and other live silos after them), and those that do not.</summary>
    private async Task<(List<string> Alive, List<string> Dead)> SurvivorsAsync(ClusterJob job, CancellationToken cancellationToken)
    {
        var (live, _) = await LiveSilosAsync(job.WorkerSilos, cancellationToken).ConfigureAwait(false);
        var dead = job.WorkerSilos.Where(s => !live.Contains(s, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal).ToList();
        return (live, dead);
    }

    /// <summary>
    /// Up to <paramref name="maxSilos"/> live silos: when fewer are alive, waits up to
    /// <see cref="RecoveringTrainingOptions.WaitForReplacement"/> for others to join, then takes what there is.
    /// </summary>
    private async Task<(List<string> Silos, int Devices)> WaitForReplacementAsync(List<string> alive, int maxSilos, int devices, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var announced = false;
        while (alive.Count < maxSilos && clock.Elapsed < options.WaitForReplacement)
        {
            if (!announced) Emit("waiting", 0, $"{alive.Count} of {maxSilos} silo(s) alive: waiting up to {options.WaitForReplacement.TotalSeconds:F0} s for a replacement");
            announced = true;
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
            (alive, _) = await LiveSilosAsync(alive, cancellationToken).ConfigureAwait(false);
        }
        if (alive.Count == 0) throw new ClusterJobException("every silo of the job died; start silos and run again with --resume", new InvalidOperationException("no silo"));
        return ([.. alive.Take(maxSilos)], devices);
    }
}
