using Alpa.Client.Contracts;
using Alpa.Client.Membership;
using Alpa.Client.Transport;
using Alpa.Silo.Hosting;
using Alpa.Silo.Hosting.Membership;

namespace Alpa.Silo.Grains;

/// <summary>This silo's partition of the grain directory.</summary>
public sealed class DirectoryGrain(GrainDirectory directory) : IDirectoryGrain
{
    public Task<GrainLocation> LookupOrPlaceAsync(DirectoryLookup request, CancellationToken cancellationToken = default) =>
        directory.LookupOrPlaceAsync(request.Grain, request.Key, cancellationToken, request.PreferredSilo);

    public Task<GrainLocation?> FindLocalAsync(DirectoryLookup request, CancellationToken cancellationToken = default) =>
        Task.FromResult(directory.FindLocal(request.Grain, request.Key));
}

/// <summary>
/// The static membership table (<c>--membership static:SEEDS</c>): served by the primary; every silo answers
/// <see cref="ExchangeClaimAsync"/> with the primary it follows.
/// </summary>
public sealed class MembershipTableGrain(IMembershipTable membership, GrainActivationContext context) : IMembershipTableGrain
{
    private StaticMembershipTable Static => membership as StaticMembershipTable
        ?? throw new GrainCallException(GrainErrorKind.NotFound, $"silo {context.Silo} does not use static membership; point --membership static: at a silo that does");

    private InMemoryMembershipTable Table => Static.Local
        ?? throw new GrainCallException(GrainErrorKind.NotFound,
            $"silo {context.Silo} does not hold the static membership table (it follows {Static.Claim.Primary ?? "no primary yet"})");

    public Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default) => Table.ReadAllAsync(cancellationToken);

    public async Task<MembershipWriteReply> InsertAsync(MembershipWrite write, CancellationToken cancellationToken = default) =>
        new(await Table.InsertAsync(write.Entry, write.ExpectedVersion, cancellationToken).ConfigureAwait(false));

    public async Task<MembershipWriteReply> UpdateAsync(MembershipWrite write, CancellationToken cancellationToken = default) =>
        new(await Table.UpdateAsync(write.Entry, write.ExpectedEtag, write.ExpectedVersion, cancellationToken).ConfigureAwait(false));

    public Task HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken = default) =>
        Table.HeartbeatAsync(request.Address, request.Epoch, request.At, cancellationToken);

    public Task<PrimaryClaim> ExchangeClaimAsync(PrimaryClaim caller, CancellationToken cancellationToken = default) =>
        Task.FromResult(Static.Exchange(caller));
}
