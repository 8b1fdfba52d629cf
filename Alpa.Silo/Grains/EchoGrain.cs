using Alpa.Client.Contracts;
using Alpa.Silo.Hosting;

namespace Alpa.Silo.Grains;

/// <summary>Echoes text and reports the silo it runs on and how many calls this activation served.</summary>
public sealed class EchoGrain(GrainActivationContext context) : IEchoGrain
{
    private long _calls;

    public Task<EchoReply> EchoAsync(EchoRequest request, CancellationToken cancellationToken = default) =>
        Task.FromResult(new EchoReply(request.Text, context.Silo, Interlocked.Increment(ref _calls)));
}
