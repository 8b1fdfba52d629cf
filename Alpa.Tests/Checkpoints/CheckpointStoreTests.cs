using Alpa.Kernels;
using Alpa.Planner.Sharding;
using Alpa.Silo.Checkpoints;

namespace Alpa.Tests.Checkpoints;

/// <summary>Writing, committing, verifying and retaining checkpoints on disk.</summary>
public sealed class CheckpointStoreTests
{
    [Fact]
    public void RoundTripReadsEveryTensorWholeAndUnderOtherLayouts()
    {
        using var f = new CheckpointFixture();
        using var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory });
        var report = writer.Save(CheckpointFixture.Snapshot(3));
        var (checkpoint, skipped) = CheckpointStore.OpenLatest(f.Directory);
        Assert.Empty(skipped);
        Assert.Equal(3, checkpoint.Step);
        Assert.Equal(report.Bytes, checkpoint.Manifest.Files.Sum(x => x.Bytes));
        // (2, 2): w has 4 distinct blocks, b 2, adam.m 4, count 1 — replicas are written once.
        Assert.Equal(4 * (96 + 12 + 96 + 4), report.Bytes);
        Assert.Equal([4, 2, 4, 1], checkpoint.Manifest.Tensors.Select(t => t.Tiles.Count));
        foreach (var (name, full) in CheckpointFixture.Tensors(3))
        {
            var back = checkpoint.ReadFull(name);
            Assert.Equal(full.Shape, back.Shape);
            if (full.Floats is { } v) Assert.Equal(v, back.Floats!);
            else Assert.Equal(full.Ints!, back.Ints!);
        }
        var other = new TensorLayout([8, 12], ShardingSpec.Parse(["S1", "S0"]), new MeshShape(3, 2));
        var shard = checkpoint.ReadShard("w", other, 5);
        Assert.Equal([4, 4], shard.Shape);
        var w = CheckpointFixture.Tensors(3)["w"].Floats!;
        Assert.Equal(w[(4 * 12) + 8], shard.Floats![0]); // rank 5 = (2, 1): rows 4.., columns 8..
    }

    [Theory]
    [InlineData(CheckpointFaultPoint.AfterShardFile, 1)]
    [InlineData(CheckpointFaultPoint.AfterShardFile, 3)]
    [InlineData(CheckpointFaultPoint.BeforeManifestRename, 4)]
    public void AnInterruptedSaveIsNeverLoaded(CheckpointFaultPoint point, int files)
    {
        using var f = new CheckpointFixture();
        void Hook(CheckpointFault x)
        {
            if (x.Step == 2 && x.Point == point && x.FilesWritten == files) throw new IOException($"injected fault at {point} after {files} files");
        }
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory, FaultHook = Hook, ParallelFiles = false }))
        {
            writer.Save(CheckpointFixture.Snapshot(1));
            Assert.Throws<IOException>(() => writer.Save(CheckpointFixture.Snapshot(2)));
        }
        var partial = CheckpointStore.StepDirectory(f.Directory, 2);
        Assert.True(Directory.Exists(partial));
        Assert.False(File.Exists(Path.Combine(partial, CheckpointManifest.FileName)));
        Assert.Equal([1L], CheckpointStore.Committed(f.Directory).Select(c => c.Step));
        var (checkpoint, _) = CheckpointStore.OpenLatest(f.Directory);
        Assert.Equal(1, checkpoint.Step);
        Assert.Equal(CheckpointFixture.Tensors(1)["w"].Floats!, checkpoint.ReadFull("w").Floats!);

        // The next commit cleans the abandoned directory up.
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            writer.Save(CheckpointFixture.Snapshot(3));
        Assert.False(Directory.Exists(partial));
    }

    [Fact]
    public void RetentionKeepsTheNewestK()
    {
        using var f = new CheckpointFixture();
        using var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory, Keep = 2 });
        foreach (var step in new[] { 5L, 10, 15, 20 })
        {
            writer.SaveInBackground(CheckpointFixture.Snapshot(step), 0);
        }
        writer.Flush();
        Assert.Equal([20L, 15], CheckpointStore.StepDirectories(f.Directory).Select(c => c.Step));
        Assert.Equal([5L, 10, 15, 20], writer.Saved.Select(s => s.Step));
    }

    [Fact]
    public void CorruptOrTruncatedShardsFallBackToThePreviousCheckpoint()
    {
        using var f = new CheckpointFixture();
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            foreach (var step in new[] { 1L, 2, 3 }) writer.Save(CheckpointFixture.Snapshot(step));
        f.Corrupt(3, "rank-00002.bin");
        var truncated = Path.Combine(CheckpointStore.StepDirectory(f.Directory, 2), "rank-00001.bin");
        using (var s = new FileStream(truncated, FileMode.Open)) s.SetLength(s.Length - 5);

        var (checkpoint, skipped) = CheckpointStore.OpenLatest(f.Directory);
        Assert.Equal(1, checkpoint.Step);
        Assert.Equal([3L, 2], skipped.Select(s => s.Step));
        Assert.Contains("checksum", skipped[0].Reason, StringComparison.Ordinal);
        Assert.Contains("truncated", skipped[1].Reason, StringComparison.Ordinal);

        f.Corrupt(1, "rank-00003.bin");
        var e = Assert.Throws<CheckpointException>(() => CheckpointStore.OpenLatest(f.Directory));
        Assert.StartsWith($"no usable checkpoint in {f.Directory}: step 3:", e.Message, StringComparison.Ordinal);
        Assert.Contains("step 1:", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AnEmptyOrMissingDirectoryIsAClearError()
    {
        using var f = new CheckpointFixture();
        Assert.Contains("holds no committed checkpoint", Assert.Throws<CheckpointException>(() => CheckpointStore.OpenLatest(f.Directory)).Message, StringComparison.Ordinal);
        var missing = Path.Combine(f.Directory, "nope");
        Assert.Contains("does not exist", Assert.Throws<CheckpointException>(() => CheckpointStore.OpenLatest(missing)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FaultSpecificationsParse()
    {
        Assert.Equal((CheckpointFaultPoint.AfterShardFile, 2, 10L), FaultInjection.Parse("after-shards:2@10"));
        Assert.Equal((CheckpointFaultPoint.BeforeManifestRename, 0, 7L), FaultInjection.Parse("before-rename@7"));
        Assert.Contains("after-shards:K@STEP", Assert.Throws<CheckpointException>(() => FaultInjection.Parse("after-shards@x")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RestoreRefusesAnotherModelsTensors()
    {
        using var f = new CheckpointFixture();
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            writer.Save(CheckpointFixture.Snapshot(1));
        var (checkpoint, _) = CheckpointStore.OpenLatest(f.Directory);
        var target = new DictionaryTarget(new() { ["w"] = HostTensor.FromFloats(new float[96], 8, 12) });
        var e = Assert.Throws<CheckpointException>(() => CheckpointIO.Restore(target, checkpoint));
        Assert.Contains("holds tensors this model and optimizer lack: 'b'", e.Message, StringComparison.Ordinal);
    }

    /// <summary>A one-device target holding whole tensors in a dictionary.</summary>
    private sealed class DictionaryTarget(Dictionary<string, HostTensor> values) : ICheckpointable
    {
        public IReadOnlyList<PersistentTensor> PersistentTensors =>
            [.. values.Select(kv => new PersistentTensor(kv.Key, "parameter", "f32", TensorLayout.Whole(kv.Value.Shape)))];

        public HostTensor ReadShard(string name, int rank) => values[name];

        public void WriteShard(string name, int rank, HostTensor value) => values[name] = value;
    }
}
