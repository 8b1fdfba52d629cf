using Alpa.Planner.Sharding;
using Alpa.Silo.Checkpoints;

namespace Alpa.Tests.Checkpoints;

/// <summary>
/// Checkpoints written by several writers (one per pipeline stage on its silo) and committed by the
/// driver, and the read path that reads each stored block once for every destination rank.
/// </summary>
public sealed class CheckpointPartTests
{
    [Fact]
    public void PartsOfTwoWritersMergeIntoOneCheckpoint_AndAPartialOneIsNeverLoaded()
    {
        using var f = new CheckpointFixture();
        var snapshot = CheckpointFixture.Snapshot(6);
        var stages = new[] { snapshot with { Tensors = [.. snapshot.Tensors.Take(2)] }, snapshot with { Tensors = [.. snapshot.Tensors.Skip(2)] } };
        var directory = CheckpointStore.StepDirectory(f.Directory, 6);
        Directory.CreateDirectory(directory);
        var parts = stages.Select((s, i) => CheckpointPart.FromJson(CheckpointPart.Write(directory, s, $"stage-{i:D3}-", parallel: true, null).ToJson())).ToList();
        Assert.Equal(8, parts.Sum(p => p.Files.Count));
        CheckpointWriter.Commit(directory, CheckpointPart.Merge(6, 5, new Dictionary<string, string>(), parts));

        var checkpoint = Checkpoint.Open(directory);
        foreach (var (name, full) in CheckpointFixture.Tensors(6))
        {
            var back = checkpoint.ReadFull(name);
            if (full.Floats is { } v) Assert.Equal(v, back.Floats!);
            else Assert.Equal(full.Ints!, back.Ints!);
        }
        var twice = Assert.Throws<CheckpointException>(() => CheckpointPart.Merge(6, 5, new Dictionary<string, string>(), [parts[0], parts[0]]));
        Assert.Contains("two writers saved", twice.Message, StringComparison.Ordinal);

        // Phase one of step 7 done by one writer only: no manifest, so step 6 stays the newest checkpoint.
        var next = CheckpointStore.StepDirectory(f.Directory, 7);
        Directory.CreateDirectory(next);
        CheckpointPart.Write(next, stages[0], "stage-000-", parallel: false, null);
        Assert.Equal(6, CheckpointStore.RestoreLatest(f.Directory, _ => { }, c => c.ReadFull("w")).Checkpoint.Step);
    }

    /// <summary>
    /// A (2, 2) mesh whose rows live on two silos: each writes only the distinct blocks whose lowest holder it holds
    /// (replicated blocks once, by the silo of rank 0); the parts merge into a checkpoint equal to the whole one,
    /// each silo restores only its ranks' regions, and a commit missing one silo's part is refused.
    /// </summary>
    [Fact]
    public void PartsOfAMeshSpanningTwoWritersMerge_EachBlockStoredOnce()
    {
        using var f = new CheckpointFixture();
        var whole = CheckpointFixture.Snapshot(4);
        var halves = new[] { new[] { 0, 1 }, [2, 3] }.Select(ranks => whole with
        {
            Ranks = ranks,
            Tensors = [.. whole.Tensors.Select(t => t with { Shards = [.. t.Shards.Select((s, r) => ranks.Contains(r) ? s : null)] })],
        }).ToList();
        var directory = CheckpointStore.StepDirectory(f.Directory, 4);
        Directory.CreateDirectory(directory);
        var parts = halves.Select(h => CheckpointPart.Write(directory, h, "stage-000-", parallel: true, null)).ToList();
        Assert.Equal(["stage-000-rank-00002.bin", "stage-000-rank-00003.bin"], parts[1].Files.Select(x => x.Name));
        Assert.Empty(parts[1].Tensors.Single(t => t.Name == "count").Tiles);
        Assert.Equal(whole.Bytes, halves.Sum(h => h.Bytes));
        var missing = Assert.Throws<CheckpointException>(() => CheckpointPart.Merge(4, 5, new Dictionary<string, string>(), [parts[0]]));
        Assert.Contains("part of its mesh is missing", missing.Message, StringComparison.Ordinal);
        CheckpointWriter.Commit(directory, CheckpointPart.Merge(4, 5, new Dictionary<string, string>(), parts));

        var checkpoint = Checkpoint.Open(directory);
        foreach (var (name, full) in CheckpointFixture.Tensors(4))
        {
            var back = checkpoint.ReadFull(name);
            if (full.Floats is { } v) Assert.Equal(v, back.Floats!);
            else Assert.Equal(full.Ints!, back.Ints!);
            var layout = checkpoint.SavedLayout(name);
            var (all, mine) = (checkpoint.ReadShards(name, layout), checkpoint.ReadShards(name, layout, [2, 3]));
            for (var i = 0; i < 2; i++)
            {
                if (all[2 + i].Floats is { } a) Assert.Equal(a, mine[i].Floats!);
                else Assert.Equal(all[2 + i].Ints!, mine[i].Ints!);
            }
        }
    }

    [Theory]
    [InlineData(new[] { "S1", "S0" }, 3, 2)]
    [InlineData(new[] { "S0", "S1" }, 2, 2)]
    [InlineData(new[] { "R", "S01" }, 2, 2)]
    [InlineData(new[] { "R", "R" }, 1, 4)]
    public void ReadShardsEqualsEveryRanksOwnRead(string[] spec, int n0, int n1)
    {
        using var f = new CheckpointFixture();
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            writer.Save(CheckpointFixture.Snapshot(2));
        var checkpoint = Checkpoint.Open(CheckpointStore.Committed(f.Directory)[0].Path, verify: false);
        var layout = new TensorLayout([8, 12], ShardingSpec.Parse(spec), new MeshShape(n0, n1));
        var all = checkpoint.ReadShards("w", layout);
        for (var r = 0; r < layout.Mesh.Devices; r++)
            Assert.Equal(checkpoint.ReadShard("w", layout, r).Floats!, all[r].Floats!);
    }

    [Fact]
    public void ADamagedBlockFoundWhileRestoringFallsBackToTheOlderCheckpoint()
    {
        using var f = new CheckpointFixture();
        using (var writer = new CheckpointWriter(new CheckpointOptions { Directory = f.Directory }))
            foreach (var step in new[] { 1L, 2 }) writer.Save(CheckpointFixture.Snapshot(step));
        f.Corrupt(2, "rank-00001.bin");
        var (checkpoint, skipped) = CheckpointStore.RestoreLatest(f.Directory, _ => { }, c =>
        {
            foreach (var name in c.Names) c.ReadShards(name, c.SavedLayout(name));
        });
        Assert.Equal(1, checkpoint.Step);
        Assert.Contains("checksum", Assert.Single(skipped).Reason, StringComparison.Ordinal);
    }
}

/// <summary>The recovery options of <c>alpa train --connect</c> refuse what cannot work, before connecting.</summary>
public sealed class ConnectRecoveryCliTests
{
    [Theory]
    [InlineData("alpa: --recover needs --checkpoint-dir D", "--recover")]
    [InlineData("alpa: with --connect, --resume D and --checkpoint-dir D must name the same directory", "--resume", "/tmp/a", "--checkpoint-dir", "/tmp/b")]
    [InlineData("alpa: --wait-for-replacement expects a non-negative number", "--checkpoint-dir", "/tmp/a", "--recover", "--wait-for-replacement", "-1")]
    public void BadRecoveryOptionsAreOneLineErrors(string expected, params string[] extra)
    {
        var (code, _, err) = Cli.InProcessCli.Run(["train", "--connect", "127.0.0.1:1", "--model", "gpt-tiny", .. extra]);
        Assert.Equal(2, code); // usage errors exit 2, as every CLI usage error here
        Assert.StartsWith(expected, err.Trim(), StringComparison.Ordinal);
    }
}
