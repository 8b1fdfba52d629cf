using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>
/// Checkpoints a job across silos every N steps (and after the last), one save at a time: a save starts at the
/// step boundary (the workers copy their blocks), is written while the next steps run (<see cref="ClusterCheckpointOptions.Background"/>),
/// and the next save or <see cref="FlushAsync"/> (the end of the job) first waits for its commit and rethrows its failure.
/// After a failure, <see cref="SettleAsync"/> lets a save in flight finish or fail before a restore looks for the newest commit.
/// A failure while a save is being written loses that save too: the job then redoes up to twice the interval
/// (<see cref="ClusterCheckpointOptions.Background"/> false bounds it by the interval, at the cost of waiting for each commit).
/// </summary>
/// <param name="options">Directory, interval, retention, background or blocking.</param>
/// <param name="committed">Called with each commit as it happens (in the background, while the next steps run), in order.</param>
public sealed class ClusterCheckpointer(ClusterCheckpointOptions options, Action<SaveReport>? committed = null)
{
    private readonly List<SaveReport> _saved = [];
    private Task? _pending;
    private long _pendingStep;
    private long? _uncommitted;

    /// <summary>Saves committed so far, oldest first.</summary>
    public IReadOnlyList<SaveReport> Saved
    {
        get
        {
            lock (_saved) return [.. _saved];
        }
    }

    /// <summary>Whether <paramref name="done"/> steps done (of <paramref name="total"/>) is a checkpoint step.</summary>
    public bool Due(long done, long total) => done % options.Every == 0 || done == total;

    /// <summary>After a step: when due, waits for the previous commit and starts the save of <paramref name="done"/> steps.</summary>
    public async Task AfterStepAsync(ClusterJobDriver driver, long done, long total, CancellationToken cancellationToken = default)
    {
        if (options.Every < 1) throw new CheckpointException($"--checkpoint-every must be at least 1, got {options.Every}");
        if (!Due(done, total)) return;
        await FlushAsync(cancellationToken).ConfigureAwait(false);
        _pending = Record(await ClusterCheckpoints.BeginSaveAsync(driver, done, options, cancellationToken).ConfigureAwait(false));
        _pendingStep = done;
        if (!options.Background) await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Waits for the save in flight to commit; rethrows its failure (the step directory then has no manifest).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken = default)
    {
        if (_pending is not { } pending) return;
        _pending = null;
        try
        {
            await pending.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception) when (pending.IsFaulted || pending.IsCanceled)
        {
            _uncommitted = _pendingStep;
            throw;
        }
    }

    /// <summary>The commit of <paramref name="save"/>, recorded and reported as soon as it happens.</summary>
    private async Task Record(PendingClusterSave save)
    {
        var report = await save.Committed.ConfigureAwait(false);
        lock (_saved) _saved.Add(report);
        committed?.Invoke(report);
    }

    /// <summary>
    /// Waits for the save in flight to commit or fail, without rethrowing (after a failure of the job). Returns the step of a
    /// save that failed to commit since the last call (this one's, or one whose failure stopped the job), else null.
    /// </summary>
    public async Task<long?> SettleAsync()
    {
        try
        {
            await FlushAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Serilog.Log.Information("The checkpoint in flight did not commit: {Error}", e.Message);
        }
        var uncommitted = _uncommitted;
        _uncommitted = null;
        return uncommitted;
    }
}
