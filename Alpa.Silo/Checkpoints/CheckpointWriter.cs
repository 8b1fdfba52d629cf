using System.Diagnostics;
using System.Globalization;
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
        var ranks = snapshot.Tensors.Max(t => t.Layout.Mesh.Devices);
        var results = new (List<(string Tensor, TileEntry Tile)> Tiles, ShardFileEntry File)[ranks];
        var written = 0;
        void WriteRank(int r)
        {
            results[r] = ShardFileWriter.Write(final, r, snapshot.Tensors, cancel);
            var done = Interlocked.Increment(ref written);
            _options.FaultHook?.Invoke(new CheckpointFault(snapshot.Step, CheckpointFaultPoint.AfterShardFile, done, ranks));
        }
        if (_options.ParallelFiles) Parallel.For(0, ranks, new ParallelOptions { CancellationToken = cancel }, WriteRank);
        else for (var r = 0; r < ranks; r++) WriteRank(r);

        var manifest = Manifest(snapshot, results);
        Commit(final, manifest, _options.FaultHook);
        var report = new SaveReport(snapshot.Step, final, results.Sum(r => r.File.Bytes), snapshotSeconds, clock.Elapsed.TotalSeconds);
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

    private static CheckpointManifest Manifest(CheckpointSnapshot snapshot, (List<(string Tensor, TileEntry Tile)> Tiles, ShardFileEntry File)[] results)
    {
        var byTensor = results.SelectMany(r => r.Tiles).ToLookup(t => t.Tensor, t => t.Tile, StringComparer.Ordinal);
        return new CheckpointManifest
        {
            Step = snapshot.Step,
            DataPosition = snapshot.DataPosition,
            RngSeed = snapshot.RngSeed,
            CreatedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture),
            Metadata = snapshot.Metadata,
            Tensors = [.. snapshot.Tensors.Select(t => new TensorEntry
            {
                Name = t.Name, Kind = t.Kind, Dtype = t.Dtype, Shape = t.Layout.Shape, Spec = t.Layout.Spec.ToStrings(),
                Mesh = [t.Layout.Mesh.N0, t.Layout.Mesh.N1],
                Tiles = [.. byTensor[t.Name].OrderBy(e => e.Rank)],
            })],
            Files = [.. results.Select(r => r.File)],
        };
    }

    /// <summary>Deletes committed checkpoints beyond the newest K, and partial directories older than the newest commit.</summary>
    private void Retain()
    {
        var committed = CheckpointStore.Committed(_options.Directory);
        foreach (var old in committed.Skip(_options.Keep)) Delete(old.Path);
        if (committed.Count == 0) return;
        var newest = committed[0].Step;
        foreach (var (step, path) in CheckpointStore.StepDirectories(_options.Directory))
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
