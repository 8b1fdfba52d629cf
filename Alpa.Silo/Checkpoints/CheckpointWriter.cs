using System.Diagnostics;
using System.Text.Json;

namespace Alpa.Silo.Checkpoints;

/// <summary>
/// Saves snapshots in the background, one at a time, with an atomic commit: every rank's shard file
/// is written and synced, then the manifest is written to a temporary name, synced, renamed into
/// place and the step directory synced. A directory without <c>manifest.json</c> is never a
/// checkpoint. After each commit, committed checkpoints beyond <see cref="CheckpointOptions.Keep"/>
/// and abandoned partial directories are deleted.
/// </summary>
public sealed class CheckpointWriter : IDisposable
{
    private readonly CheckpointOptions _options;
    private Task<SaveReport>? _pending;
    private readonly List<SaveReport> _saved = [];

    public CheckpointWriter(CheckpointOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Keep < 1) throw new CheckpointException($"--keep must be at least 1, got {options.Keep}");
        _options = options;
        System.IO.Directory.CreateDirectory(options.Directory);
    }

    /// <summary>Saves committed so far, oldest first.</summary>
    public IReadOnlyList<SaveReport> Saved
    {
        get
        {
            lock (_saved) return [.. _saved];
        }
    }

    /// <summary>
    /// Starts writing <paramref name="snapshot"/> in the background after the previous save finished
    /// (a failure of the previous save is thrown here). Returns once the save has started.
    /// </summary>
    public void SaveInBackground(CheckpointSnapshot snapshot, double snapshotSeconds, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        Flush();
        _pending = Task.Run(() => Save(snapshot, snapshotSeconds, cancel), cancel);
    }

    /// <summary>Waits for the save in flight, if any; rethrows its failure.</summary>
    public void Flush()
    {
        if (_pending is not { } pending) return;
        _pending = null;
        try
        {
            pending.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"saving a checkpoint into {_options.Directory} failed: {e.Message}", e);
        }
    }

    /// <summary>Writes and commits one snapshot now, on the calling thread.</summary>
    public SaveReport Save(CheckpointSnapshot snapshot, double snapshotSeconds = 0, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var clock = Stopwatch.StartNew();
        var final = CheckpointStore.StepDirectory(_options.Directory, snapshot.Step);
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.CreateDirectory(final);
        var part = CheckpointPart.Write(final, snapshot, "", _options.ParallelFiles, _options.FaultHook, cancel);
        Commit(final, CheckpointPart.Merge(snapshot.Step, snapshot.RngSeed, snapshot.Metadata, [part]), _options.FaultHook);
        var report = new SaveReport(snapshot.Step, final, part.Files.Sum(f => f.Bytes), snapshotSeconds, clock.Elapsed.TotalSeconds);
        lock (_saved) _saved.Add(report);
        Retain();
        return report;
    }

    /// <summary>
    /// The driver side of a save: writes the manifest to a temporary name, syncs it, renames it into
    /// place and syncs the directory. Call only after every shard file it names is synced.
    /// </summary>
    public static void Commit(string stepDirectory, CheckpointManifest manifest, Action<CheckpointFault>? faultHook = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var temp = Path.Combine(stepDirectory, CheckpointManifest.FileName + ".tmp");
        if (File.Exists(temp)) File.Delete(temp);
        DurableFiles.WriteSynced(temp, JsonSerializer.SerializeToUtf8Bytes(manifest, CheckpointJson.Default.CheckpointManifest));
        faultHook?.Invoke(new CheckpointFault(manifest.Step, CheckpointFaultPoint.BeforeManifestRename, manifest.Files.Count, manifest.Files.Count));
        File.Move(temp, Path.Combine(stepDirectory, CheckpointManifest.FileName), overwrite: false);
        DurableFiles.SyncDirectory(stepDirectory);
        DurableFiles.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(stepDirectory))!);
    }

    /// <summary>Deletes committed checkpoints beyond the newest K, and partial directories older than the newest commit.</summary>
    private void Retain() => Retain(_options.Directory, _options.Keep);

    /// <summary>Deletes committed checkpoints of <paramref name="directory"/> beyond the newest <paramref name="keep"/>, and partial directories older than the newest commit.</summary>
    public static void Retain(string directory, int keep)
    {
        var committed = CheckpointStore.Committed(directory);
        foreach (var old in committed.Skip(keep)) Delete(old.Path);
        if (committed.Count == 0) return;
        var newest = committed[0].Step;
        foreach (var (step, path) in CheckpointStore.StepDirectories(directory))
            if (step < newest && !File.Exists(Path.Combine(path, CheckpointManifest.FileName))) Delete(path);
    }

    /// <summary>Removes the manifest first, so an interrupted delete leaves no half checkpoint.</summary>
    private static void Delete(string path)
    {
        var manifest = Path.Combine(path, CheckpointManifest.FileName);
        if (File.Exists(manifest))
        {
            File.Delete(manifest);
            DurableFiles.SyncDirectory(path);
        }
        Directory.Delete(path, recursive: true);
    }

    /// <summary>Waits for a save in flight; its failure is not rethrown here (call <see cref="Flush"/> for that).</summary>
    public void Dispose()
    {
        try
        {
            _pending?.Wait();
        }
        catch (AggregateException)
        {
            // The caller that wanted the outcome called Flush; an uncommitted save is simply not a checkpoint.
        }
        _pending = null;
    }
}
