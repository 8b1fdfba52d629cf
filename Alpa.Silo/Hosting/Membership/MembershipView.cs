using Alpa.Client.Membership;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>The membership table as this silo last read it; readers never block.</summary>
public sealed class MembershipView
{
    private volatile MembershipSnapshot _snapshot = new([], 0);

    public MembershipSnapshot Snapshot => _snapshot;

    /// <summary>Raised after a new snapshot with a different version is published.</summary>
    public event Action<MembershipSnapshot>? Changed;

    public void Publish(MembershipSnapshot snapshot)
    {
        var previous = _snapshot;
        _snapshot = snapshot;
        if (previous.Version != snapshot.Version)
        {
            Changed?.Invoke(snapshot);
        }
    }

    public bool IsActive(string address, long epoch) =>
        _snapshot.Entries.Any(e => e.Address == address && e.Epoch == epoch && e.Status == SiloStatus.Active);

    /// <summary>Active silos, ordered by address (stable for hashing).</summary>
    public IReadOnlyList<MembershipEntry> ActiveSilos() =>
        _snapshot.Active.OrderBy(e => e.Address, StringComparer.Ordinal).ToList();

    /// <summary>The active row of <paramref name="address"/>, if any.</summary>
    public MembershipEntry? ActiveRow(string address) =>
        _snapshot.Entries.Where(e => e.Address == address && e.Status == SiloStatus.Active).MaxBy(e => e.Epoch);
}
