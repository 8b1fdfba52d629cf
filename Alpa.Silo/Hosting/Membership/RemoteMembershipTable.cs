using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// <c>--membership static:ADDR:PORT</c> on a silo that is not the primary: the table lives in the
/// primary silo and is reached through its <see cref="IMembershipTableGrain"/>.
/// </summary>
public sealed class RemoteMembershipTable(IGrainFactory grains, string primary, string clusterId) : IMembershipTable
{
    private IMembershipTableGrain Table => grains.GetGrain<IMembershipTableGrain>(primary);

    /// <summary>Checks that the primary belongs to this silo's cluster (a call with a wrong secret fails here with 401).</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var info = await grains.GetGrain<ISiloGrain>(primary).GetInfoAsync(cancellationToken).ConfigureAwait(false);
        if (info.ClusterId != clusterId)
        {
            throw new JoinRefusedException(
                $"the primary silo {primary} belongs to cluster '{info.ClusterId}', but this silo was started with cluster id '{clusterId}'; " +
                "give every silo the same --cluster-id (Silo:ClusterId)");
        }
    }

    public Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken) => Table.ReadAllAsync(cancellationToken);

    public async Task<bool> InsertAsync(MembershipEntry entry, long expectedVersion, CancellationToken cancellationToken) =>
        (await Table.InsertAsync(new MembershipWrite(entry, 0, expectedVersion), cancellationToken).ConfigureAwait(false)).Succeeded;

    public async Task<bool> UpdateAsync(MembershipEntry entry, long expectedEtag, long expectedVersion, CancellationToken cancellationToken) =>
        (await Table.UpdateAsync(new MembershipWrite(entry, expectedEtag, expectedVersion), cancellationToken).ConfigureAwait(false)).Succeeded;

    public Task HeartbeatAsync(string address, long epoch, DateTimeOffset at, CancellationToken cancellationToken) =>
        Table.HeartbeatAsync(new HeartbeatRequest(address, epoch, at), cancellationToken);
}
