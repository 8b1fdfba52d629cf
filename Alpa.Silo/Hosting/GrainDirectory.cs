using System.Collections.Concurrent;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting.Membership;

namespace Alpa.Silo.Hosting;

/// <summary>
/// The grain directory for <see cref="GrainPlacement.AnyLiveSilo"/> grains. Each grain id is owned
/// by the active silo that wins rendezvous hashing; the owner records where the grain lives and,
/// on a miss, first asks the other silos whether one already holds it (after an ownership change)
/// before placing it on a random active silo. Callers cache locations and drop them when the
/// hosting incarnation leaves the active set.
/// </summary>
public sealed class GrainDirectory(SiloIdentity self, MembershipView view, GrainCatalog catalog, Lazy<IGrainFactory> grains)
{
    private readonly ConcurrentDictionary<string, GrainLocation> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, GrainLocation> _partition = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _placing = new(1, 1);

    /// <summary>Where grain <paramref name="grain"/>/<paramref name="key"/> lives (placing it if needed).</summary>
    public async ValueTask<GrainLocation> LocateAsync(string grain, string key, CancellationToken token, bool preferLocal = false)
    {
        var id = $"{grain}/{key}";
        if (_cache.TryGetValue(id, out var cached) && IsLive(cached))
        {
            return cached;
        }
        var owner = Owner(id);
        var location = owner == self.Address
            ? await LookupOrPlaceAsync(grain, key, token, preferLocal ? self.Address : null).ConfigureAwait(false)
            : await grains.Value.GetGrain<IDirectoryGrain>(owner)
                .LookupOrPlaceAsync(new DirectoryLookup(grain, key, preferLocal ? self.Address : null), token).ConfigureAwait(false);
        _cache[id] = location;
        return location;
    }

    /// <summary>The owner's side of <see cref="LocateAsync"/>.</summary>
    public async Task<GrainLocation> LookupOrPlaceAsync(string grain, string key, CancellationToken token, string? preferredSilo = null)
    {
        var id = $"{grain}/{key}";
        await _placing.WaitAsync(token).ConfigureAwait(false);
        try
        {
            if (_partition.TryGetValue(id, out var known) && IsLive(known))
            {
                return known;
            }
            var location = await FindExistingAsync(grain, key, token).ConfigureAwait(false) ?? Place(preferredSilo);
            _partition[id] = location;
            return location;
        }
        finally
        {
            _placing.Release();
        }
    }

    /// <summary>This silo's location if it holds an activation of the grain.</summary>
    public GrainLocation? FindLocal(string grain, string key) =>
        catalog.Contains(grain, key) ? new GrainLocation(self.Address, self.Epoch) : null;

    private async Task<GrainLocation?> FindExistingAsync(string grain, string key, CancellationToken token)
    {
        if (FindLocal(grain, key) is { } local)
        {
            return local;
        }
        foreach (var silo in view.ActiveSilos().Where(s => s.Address != self.Address))
        {
            try
            {
                using var deadline = GrainCallContext.WithDeadline(TimeSpan.FromSeconds(1));
                var found = await grains.Value.GetGrain<IDirectoryGrain>(silo.Address)
                    .FindLocalAsync(new DirectoryLookup(grain, key), token).ConfigureAwait(false);
                if (found is not null && IsLive(found))
                {
                    return found;
                }
            }
            catch (GrainCallException)
            {
                // A silo that cannot answer holds nothing we could route to; failure detection deals with it.
            }
        }
        return null;
    }

    private GrainLocation Place(string? preferredSilo)
    {
        var active = view.ActiveSilos();
        if (active.FirstOrDefault(s => s.Address == preferredSilo) is { } preferred)
        {
            return new GrainLocation(preferred.Address, preferred.Epoch);
        }
        if (active.Count == 0)
        {
            return new GrainLocation(self.Address, self.Epoch);
        }
        var chosen = active[Random.Shared.Next(active.Count)];
        return new GrainLocation(chosen.Address, chosen.Epoch);
    }

    private bool IsLive(GrainLocation location) =>
        (location.Silo == self.Address && location.Epoch == self.Epoch) || view.IsActive(location.Silo, location.Epoch);

    /// <summary>Rendezvous hashing: the active silo with the highest hash of (grain id, silo) owns the id.</summary>
    private string Owner(string id)
    {
        var active = view.ActiveSilos();
        if (active.Count == 0)
        {
            return self.Address;
        }
        return active.MaxBy(s => Fnv1a($"{id}|{s.Address}"))!.Address;
    }

    /// <summary>64-bit FNV-1a with a final avalanche (stable across processes, unlike string.GetHashCode).</summary>
    private static ulong Fnv1a(string text)
    {
        var hash = 14695981039346656037UL;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }
        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        return hash ^ (hash >> 33);
    }
}
