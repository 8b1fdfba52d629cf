using Alpa.Client.Contracts;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution.Cluster;

namespace Alpa.Silo.Grains;

/// <summary>
/// The mesh worker's checkpoint calls (see <see cref="StageCheckpoints"/>): a save copies this silo's blocks to the
/// host while holding the job (between two steps), then writes them, at once or in the background while the
/// next steps run; a restore loads this silo's ranks of every local stage from any committed checkpoint.
/// </summary>
public sealed partial class MeshWorkerGrain
{
    public async Task<SaveShardsReply> SaveShardsAsync(SaveShardsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Loaded(request.JobId);
        var hook = FaultInjection.FromEnvironment(Console.Error);
        var snapshot = await Task.Run(() =>
        {
            using var lease = loaded.Enter(cancellationToken);
            return StageCheckpoints.Capture(loaded.Job, loaded.Stages, request.Step, request.StepDirectory);
        }, cancellationToken).ConfigureAwait(false);
        // The write holds a lease of its own: releasing the job cancels it, and a part written for a released job is never collected.
        var writing = loaded.Enter(CancellationToken.None);
        var write = Task.Run(() =>
        {
            using (writing)
                return new SaveShardsReply(request.JobId, request.Step, StageCheckpoints.Write(snapshot, hook, writing.Token).ToJson(), snapshot.Seconds);
        }, CancellationToken.None);
        if (!request.Background) return await write.ConfigureAwait(false);
        if (!loaded.Saves.TryAdd(request.Step, write))
            throw new CheckpointException($"silo {self.Address} is already saving step {request.Step} of job {request.JobId}");
        return new SaveShardsReply(request.JobId, request.Step, "", snapshot.Seconds);
    }

    public async Task<SaveShardsReply> AwaitShardsAsync(AwaitShardsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Loaded(request.JobId);
        if (!loaded.Saves.TryGetValue(request.Step, out var write))
            throw new CheckpointException($"silo {self.Address} has no save of step {request.Step} of job {request.JobId} in flight");
        try
        {
            return await write.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (write.IsCompleted) loaded.Saves.TryRemove(request.Step, out _);
        }
    }

    public Task<RestoreShardsReply> RestoreShardsAsync(RestoreShardsRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var loaded = Loaded(request.JobId);
        return Task.Run(() =>
        {
            using var lease = loaded.Enter(cancellationToken);
            return StageCheckpoints.Restore(loaded.Job, loaded.Stages, request);
        }, cancellationToken);
    }
}
