using System.Globalization;

namespace Alpa.Silo.Checkpoints;

/// <summary>Where a resumed run starts and what was skipped to get there.</summary>
/// <param name="Step">Steps done in the restored checkpoint: training continues with the next.</param>
/// <param name="Path">Step directory restored.</param>
/// <param name="Skipped">Newer committed checkpoints that failed verification.</param>
/// <param name="ZeroStates">Optimizer states the checkpoint lacked (left at zero: parameters-only import).</param>
/// <param name="Metadata">The checkpoint's run facts.</param>
public sealed record ResumePoint(long Step, string Path, IReadOnlyList<SkippedCheckpoint> Skipped,
                                 IReadOnlyList<string> ZeroStates, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Checkpoints a training run every N steps (and after the last): the state is copied to the
/// host between steps, then written and committed in the background while training continues.
/// </summary>
public sealed class TrainingCheckpointer : IDisposable
{
    private readonly ICheckpointable _runner;
    private readonly CheckpointWriter _writer;
    private readonly int _every;
    private readonly int _total;
    private readonly ulong _seed;
    private readonly IReadOnlyDictionary<string, string> _metadata;

    /// <param name="runner">What to capture.</param>
    /// <param name="options">Directory, retention, fault hook.</param>
    /// <param name="every">Save when the number of steps done is a multiple of this.</param>
    /// <param name="totalSteps">Also save after this step (the last).</param>
    /// <param name="seed">Seed of initialization and data.</param>
    /// <param name="metadata">Run facts for the manifest (model, optimizer, …).</param>
    public TrainingCheckpointer(ICheckpointable runner, CheckpointOptions options, int every, int totalSteps, ulong seed,
                                IReadOnlyDictionary<string, string> metadata)
    {
        if (every < 1) throw new CheckpointException($"--checkpoint-every must be at least 1, got {every}");
        _runner = runner;
        _writer = new CheckpointWriter(options);
        _every = every;
        _total = totalSteps;
        _seed = seed;
        _metadata = metadata;
    }

    /// <summary>Commit each save before the next step (false: the next steps run while it is written).</summary>
    public bool Blocking { get; init; }

    /// <summary>Saves committed so far.</summary>
    public IReadOnlyList<SaveReport> Saved => _writer.Saved;

    /// <summary>Call after each step with the number of steps done.</summary>
    public void AfterStep(int done)
    {
        if (done % _every != 0 && done != _total) return;
        var (snapshot, seconds) = CheckpointIO.Capture(_runner, done, _seed, _metadata);
        _writer.SaveInBackground(snapshot, seconds);
        if (Blocking) _writer.Flush();
    }

    /// <summary>Waits for the last save to commit.</summary>
    public void Finish() => _writer.Flush();

    public void Dispose() => _writer.Dispose();

    /// <summary>
    /// Restores the newest usable checkpoint of <paramref name="directory"/> into <paramref name="runner"/>
    /// (under the runner's own layouts). <paramref name="expected"/> lists run facts that must match
    /// (model, seed): a mismatch is an error saying which option to change.
    /// </summary>
    public static ResumePoint Resume(string directory, ICheckpointable runner, IReadOnlyDictionary<string, string> expected)
    {
        ArgumentNullException.ThrowIfNull(expected);
        IReadOnlyList<string> zero = [];
        var (checkpoint, skipped) = CheckpointStore.RestoreLatest(directory, c =>
        {
            foreach (var (key, value) in expected)
            {
                if (c.Manifest.Metadata.TryGetValue(key, out var saved) && saved != value)
                    throw new CheckpointException($"the checkpoint at {c.Path} was saved with {key} {saved}, this run has {value}: pass --{key} {saved}");
            }
            CheckpointIO.Validate(runner, c);
        }, c => zero = CheckpointIO.Restore(runner, c));
        return new ResumePoint(checkpoint.Step, checkpoint.Path, skipped, zero, checkpoint.Manifest.Metadata);
    }

    /// <summary>Metadata value formatting shared by writers and checks.</summary>
    public static string Format(IFormattable value) => value.ToString(null, CultureInfo.InvariantCulture);
}
