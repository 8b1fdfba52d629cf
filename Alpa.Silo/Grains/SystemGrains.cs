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

/// <summary>The primary silo's membership table under <c>--membership static:ADDR:PORT</c>.</summary>
public sealed class MembershipTableGrain(PrimaryTable primary, GrainActivationContext context) : IMembershipTableGrain
{
    private InMemoryMembershipTable Table => primary.Table
        ?? throw new GrainCallException(GrainErrorKind.NotFound,
            $"silo {context.Silo} is not the primary of a static membership; point --membership static: at the primary silo's address");

    public Task<MembershipSnapshot> ReadAllAsync(CancellationToken cancellationToken = default) => Table.ReadAllAsync(cancellationToken);

    public async Task<MembershipWriteReply> InsertAsync(MembershipWrite write, CancellationToken cancellationToken = default) =>
        new(await Table.InsertAsync(write.Entry, write.ExpectedVersion, cancellationToken).ConfigureAwait(false));

    public async Task<MembershipWriteReply> UpdateAsync(MembershipWrite write, CancellationToken cancellationToken = default) =>
        new(await Table.UpdateAsync(write.Entry, write.ExpectedEtag, write.ExpectedVersion, cancellationToken).ConfigureAwait(false));

    public Task HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken = default) =>
        Table.HeartbeatAsync(request.Address, request.Epoch, request.At, cancellationToken);
}

/// <summary>The in-memory table this silo serves as static primary, or null when it is not the primary.</summary>
public sealed record PrimaryTable(InMemoryMembershipTable? Table);
