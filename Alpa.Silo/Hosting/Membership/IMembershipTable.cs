using Alpa.Client.Membership;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// The membership table (Orleans' model): rows keyed by (address, epoch), a table version bumped by
/// every insert and status change, and a per-row etag. Writes succeed only if the version (and the
/// row's etag) still hold what the writer read: false means "read again and retry".
/// </summary>
public interface IMembershipTable
{
    /// <summary>Creates or migrates the storage if needed.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken);

    /// <summary>Inserts a new row if the table version is still <paramref name="expectedVersion"/> and the row is new.</summary>
    Task<bool> InsertAsync(MembershipEntry entry, long expectedVersion, CancellationToken cancellationToken);

    /// <summary>Replaces row (address, epoch) if its etag is <paramref name="expectedEtag"/> and the version <paramref name="expectedVersion"/>.</summary>
    Task<bool> UpdateAsync(MembershipEntry entry, long expectedEtag, long expectedVersion, CancellationToken cancellationToken);

    /// <summary>Sets a row's heartbeat; touches neither version nor etag.</summary>
    Task HeartbeatAsync(string address, long epoch, DateTimeOffset at, CancellationToken cancellationToken);
}

/// <summary>
/// An in-process table: the <c>memory</c> backend, and the primary's table under <c>static:</c>. Rows stay in
/// insertion order (the order silos joined), which a static takeover uses to pick the next primary.
/// </summary>
public sealed class InMemoryMembershipTable : IMembershipTable
{
    private readonly Lock _gate = new();
    private readonly List<MembershipEntry> _rows = [];
    private long _version;

    public InMemoryMembershipTable()
    {
    }

    /// <summary>A table that continues from <paramref name="rows"/> at <paramref name="version"/> (a takeover of a static table).</summary>
    public InMemoryMembershipTable(IEnumerable<MembershipEntry> rows, long version)
    {
        _rows.AddRange(rows);
        _version = version;
    }

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(new MembershipSnapshot(_rows.ToList(), _version));
        }
    }

    public Task<bool> InsertAsync(MembershipEntry entry, long expectedVersion, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_version != expectedVersion || IndexOf(entry.Address, entry.Epoch) >= 0)
            {
                return Task.FromResult(false);
            }
            _rows.Add(entry with { ETag = 1 });
            _version++;
            return Task.FromResult(true);
        }
    }

    public Task<bool> UpdateAsync(MembershipEntry entry, long expectedEtag, long expectedVersion, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var i = IndexOf(entry.Address, entry.Epoch);
            if (_version != expectedVersion || i < 0 || _rows[i].ETag != expectedEtag)
            {
                return Task.FromResult(false);
            }
            _rows[i] = entry with { ETag = expectedEtag + 1 };
            _version++;
            return Task.FromResult(true);
        }
    }

    public Task HeartbeatAsync(string address, long epoch, DateTimeOffset at, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            var i = IndexOf(address, epoch);
            if (i >= 0)
            {
                _rows[i] = _rows[i] with { LastHeartbeat = at };
            }
            return Task.CompletedTask;
        }
    }

    private int IndexOf(string address, long epoch) => _rows.FindIndex(r => r.Address == address && r.Epoch == epoch);
}
