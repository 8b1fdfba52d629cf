using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// <c>--membership static:ADDR:PORT</c> on a silo that is not the primary: the table lives in the
/// primary silo and is reached through its <see cref="IMembershipTableGrain"/>.
/// </summary>
public sealed class RemoteMembershipTable(IGrainFactory grains, string primary) : IMembershipTable
{
    private IMembershipTableGrain Table => grains.GetGrain<IMembershipTableGrain>(primary);

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken) => Table.ReadAllAsync(cancellationToken);

    public async Task<bool> InsertAsync(MembershipEntry entry, long expectedVersion, CancellationToken cancellationToken) =>
        (await Table.InsertAsync(new MembershipWrite(entry, 0, expectedVersion), cancellationToken).ConfigureAwait(false)).Succeeded;

    public async Task<bool> UpdateAsync(MembershipEntry entry, long expectedEtag, long expectedVersion, CancellationToken cancellationToken) =>
        (await Table.UpdateAsync(new MembershipWrite(entry, expectedEtag, expectedVersion), cancellationToken).ConfigureAwait(false)).Succeeded;

    public Task HeartbeatAsync(string address, long epoch, DateTimeOffset at, CancellationToken cancellationToken) =>
        Table.HeartbeatAsync(new HeartbeatRequest(address, epoch, at), cancellationToken);
}
