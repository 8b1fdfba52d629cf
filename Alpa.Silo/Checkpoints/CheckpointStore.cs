using System.Globalization;
using System.Text.Json;

namespace Alpa.Silo.Checkpoints;

/// <summary>Why one committed checkpoint could not be used.</summary>
/// <param name="Step">Its step.</param>
/// <param name="Reason">What is wrong with it.</param>
public sealed record SkippedCheckpoint(long Step, string Reason);

/// <summary>
/// The checkpoints of a directory: only step directories with a <c>manifest.json</c> exist.
/// <see cref="OpenLatest"/> verifies every block's checksum and falls back to older checkpoints when
/// one is damaged, or says that none is usable.
/// </summary>
public static class CheckpointStore
{
    private const string Prefix = "step-";

    /// <summary>The step directory of <paramref name="step"/>.</summary>
    public static string StepDirectory(string root, long step) =>
        Path.Combine(root, Prefix + step.ToString("D9", CultureInfo.InvariantCulture));

    /// <summary>Every step directory, committed or not, newest first.</summary>
    public static IReadOnlyList<(long Step, string Path)> StepDirectories(string root)
    {
        if (!Directory.Exists(root)) return [];
        var found = new List<(long, string)>();
        foreach (var dir in Directory.EnumerateDirectories(root, Prefix + "*"))
        {
            var name = Path.GetFileName(dir);
            if (long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var step))
                found.Add((step, dir));
        }
        return [.. found.OrderByDescending(f => f.Item1)];
    }

    /// <summary>Committed checkpoints (manifest present), newest first.</summary>
    public static IReadOnlyList<(long Step, string Path)> Committed(string root) =>
        [.. StepDirectories(root).Where(d => File.Exists(Path.Combine(d.Path, CheckpointManifest.FileName)))];

    /// <summary>Reads a manifest without checking the shards.</summary>
    public static CheckpointManifest ReadManifest(string stepDirectory)
    {
        var path = Path.Combine(stepDirectory, CheckpointManifest.FileName);
        CheckpointManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize(File.ReadAllBytes(path), CheckpointJson.Default.CheckpointManifest);
        }
        catch (JsonException e)
        {
            throw new CheckpointException($"{path} is not a valid manifest: {e.Message}", e);
        }
        if (manifest is null) throw new CheckpointException($"{path} is empty");
        if (manifest.FormatVersion != CheckpointManifest.CurrentVersion)
            throw new CheckpointException($"{path} has format version {manifest.FormatVersion}; this build reads version {CheckpointManifest.CurrentVersion}");
        return manifest;
    }

    /// <summary>
    /// The newest committed checkpoint whose blocks all match their checksums (with the reasons the
    /// newer ones were skipped), or a <see cref="CheckpointException"/> saying none is usable.
    /// </summary>
    public static (Checkpoint Checkpoint, IReadOnlyList<SkippedCheckpoint> Skipped) OpenLatest(string root, CancellationToken cancel = default)
    {
        if (!Directory.Exists(root)) throw new CheckpointException($"checkpoint directory {root} does not exist");
        var skipped = new List<SkippedCheckpoint>();
        foreach (var (step, path) in Committed(root))
        {
            try
            {
                return (Checkpoint.Open(path, verify: true, cancel), skipped);
            }
            catch (Exception e) when (e is CheckpointException or IOException)
            {
                skipped.Add(new SkippedCheckpoint(step, e.Message));
            }
        }
        throw NoneUsable(root, skipped);
    }

    /// <summary>
    /// Restores the newest committed checkpoint that loads cleanly: <paramref name="check"/> runs on the
    /// manifest (its errors are the caller's and end the search), <paramref name="load"/> reads the data,
    /// verifying each block as it goes; a damaged or truncated checkpoint falls back to the next older one.
    /// Every block is read once (no separate verification pass).
    /// </summary>
    public static (Checkpoint Checkpoint, IReadOnlyList<SkippedCheckpoint> Skipped) RestoreLatest(
        string root, Action<Checkpoint> check, Action<Checkpoint> load)
    {
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(load);
        if (!Directory.Exists(root)) throw new CheckpointException($"checkpoint directory {root} does not exist");
        var skipped = new List<SkippedCheckpoint>();
        foreach (var (step, path) in Committed(root))
        {
            Checkpoint checkpoint;
            try
            {
                checkpoint = Checkpoint.Open(path, verify: false);
            }
            catch (Exception e) when (e is CheckpointException or IOException)
            {
                skipped.Add(new SkippedCheckpoint(step, e.Message));
                continue;
            }
            check(checkpoint);
            try
            {
                load(checkpoint);
                return (checkpoint, skipped);
            }
            catch (Exception e) when (e is CheckpointException or IOException)
            {
                skipped.Add(new SkippedCheckpoint(step, e.Message));
            }
        }
        throw NoneUsable(root, skipped);
    }

    private static CheckpointException NoneUsable(string root, List<SkippedCheckpoint> skipped)
    {
        var why = skipped.Count == 0
            ? "it holds no committed checkpoint (no step-*/manifest.json)"
            : string.Join("; ", skipped.Select(s => $"step {s.Step}: {s.Reason}"));
        return new CheckpointException($"no usable checkpoint in {root}: {why}");
    }
}
