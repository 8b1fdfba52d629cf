using System.Text.Json;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Training;

namespace Alpa.Silo.Cli;

/// <summary>
/// The checkpoint options of <c>alpa train</c>: <c>--resume D</c> restores the newest usable
/// checkpoint of D (under this run's layout) and continues from its step; <c>--checkpoint-dir D
/// --checkpoint-every N [--keep K]</c> saves in the background every N steps and after the last.
/// With <c>--resume D</c> and <c>--checkpoint-every N</c> the run keeps saving into D.
/// </summary>
internal sealed class TrainCheckpoints : IDisposable
{
    private readonly string? _resume;
    private readonly string? _directory;
    private readonly int _every;
    private readonly int _keep;
    private readonly bool _blocking;
    private readonly ulong _seed;
    private readonly IReadOnlyDictionary<string, string> _metadata;
    private readonly TextWriter _log;
    private TrainingCheckpointer? _checkpointer;

    public static IReadOnlyList<CliOption> Options { get; } =
    [
        new("checkpoint-dir", "D", "save sharded checkpoints into D (atomic, in the background, while training continues)"),
        new("checkpoint-every", "N", "save every N steps and after the last (default: steps/4)"),
        new("keep", "K", "keep the newest K committed checkpoints (default 3)"),
        new("checkpoint-blocking", null, "commit each checkpoint before the next step (with --connect --recover a silo's death then loses at most --checkpoint-every steps; in the background, the default, up to twice that)"),
        new("resume", "D", "restore the newest usable checkpoint of D, on this run's layout, and continue from its step"),
    ];

    /// <param name="metadata">Run facts written into each manifest; model, seed and optimizer must match on resume.</param>
    public TrainCheckpoints(CommandArgs args, int steps, ulong seed, IReadOnlyDictionary<string, string> metadata, TextWriter log)
    {
        _resume = args.Value("resume");
        _directory = args.Value("checkpoint-dir") ?? (args.Has("checkpoint-every") ? _resume : null);
        if (_directory is null && (args.Has("checkpoint-every") || args.Has("keep") || args.Has("checkpoint-blocking")))
            throw new UsageException("--checkpoint-every, --keep and --checkpoint-blocking need --checkpoint-dir D (or --resume D)");
        _blocking = args.Has("checkpoint-blocking");
        _every = args.PositiveInt("checkpoint-every", Math.Max(1, steps / 4));
        _keep = args.PositiveInt("keep", 3);
        _seed = seed;
        _metadata = metadata;
        _log = log;
    }

    /// <summary>Restores the checkpoint when resuming; returns the steps already done (0 otherwise).</summary>
    public int Resume(IStepRunner runner, int steps)
    {
        if (_resume is null) return 0;
        var target = Checkpointable(runner);
        var expected = _metadata.Where(kv => kv.Key is "model" or "seed" or "optimizer").ToDictionary(kv => kv.Key, kv => kv.Value);
        var point = TrainingCheckpointer.Resume(_resume, target, expected);
        foreach (var s in point.Skipped) _log.WriteLine($"checkpoint step {s.Step} skipped: {s.Reason}");
        if (point.ZeroStates.Count > 0) _log.WriteLine($"checkpoint holds parameters only: {point.ZeroStates.Count} optimizer states start at zero");
        if (point.Step >= steps)
            throw new CheckpointException($"the checkpoint at {point.Path} is at step {point.Step}, --steps is {steps}: nothing left to train (raise --steps)");
        _log.WriteLine($"resumed from {point.Path} (step {point.Step})");
        return (int)point.Step;
    }

    /// <summary>The per-step hook that saves checkpoints, or null when not checkpointing.</summary>
    public Action<int>? Attach(IStepRunner runner, int steps)
    {
        if (_directory is null) return null;
        var target = Checkpointable(runner);
        var options = new CheckpointOptions { Directory = _directory, Keep = _keep, FaultHook = FaultInjection.FromEnvironment(_log) };
        _checkpointer = new TrainingCheckpointer(target, options, _every, steps, _seed, _metadata) { Blocking = _blocking };
        return _checkpointer.AfterStep;
    }

    /// <summary>Waits for the last save; prints what was saved.</summary>
    public IReadOnlyList<SaveReport> Finish()
    {
        if (_checkpointer is null) return [];
        _checkpointer.Finish();
        var saved = _checkpointer.Saved;
        if (saved.Count > 0)
            _log.WriteLine($"checkpoints: {saved.Count} saved into {_directory} (last step {saved[^1].Step}, {Units.Bytes(saved[^1].Bytes)}, " +
                           $"copy {saved.Average(s => s.SnapshotSeconds) * 1e3:F1} ms, write {saved.Average(s => s.WriteSeconds) * 1e3:F1} ms on average)");
        return saved;
    }

    /// <summary>The runner as a checkpoint source and target (single device, one mesh, pipeline).</summary>
    private static ICheckpointable Checkpointable(IStepRunner runner) => runner as ICheckpointable
        ?? throw new CheckpointException($"{runner.GetType().Name} cannot save or restore checkpoints");

    public static void WriteJson(Utf8JsonWriter w, int startStep, IReadOnlyList<SaveReport> saved)
    {
        w.WriteNumber("start_step", startStep);
        w.WriteStartArray("checkpoints");
        foreach (var s in saved)
        {
            w.WriteStartObject();
            w.WriteNumber("step", s.Step);
            w.WriteString("path", s.Path);
            w.WriteNumber("bytes", s.Bytes);
            w.WriteNumber("snapshot_seconds", Math.Round(s.SnapshotSeconds, 6));
            w.WriteNumber("write_seconds", Math.Round(s.WriteSeconds, 6));
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public void Dispose() => _checkpointer?.Dispose();
}
