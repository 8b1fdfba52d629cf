using Alpa.Kernels;
using Alpa.Planner.Sharding;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution.Spmd;
using Alpa.Silo.Training;
using Alpa.Tests.Spmd;

namespace Alpa.Tests.Checkpoints;

/// <summary>A temporary checkpoint directory and synthetic snapshots on a (2, 2) mesh.</summary>
internal sealed class CheckpointFixture : IDisposable
{
    public CheckpointFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "alpa-tests", "ckpt-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    /// <summary>Full tensors of a snapshot at <paramref name="step"/> (values depend on the step).</summary>
    public static Dictionary<string, HostTensor> Tensors(long step)
    {
        var rng = new DeterministicRandom(7, (ulong)step);
        HostTensor Floats(params long[] shape)
        {
            var v = new float[TileGeometry.Count(shape)];
            for (var i = 0; i < v.Length; i++) v[i] = (float)rng.NextNormal();
            return HostTensor.FromFloats(v, shape);
        }
        return new Dictionary<string, HostTensor>(StringComparer.Ordinal)
        {
            ["w"] = Floats(8, 12),
            ["b"] = Floats(12),
            ["adam.m"] = Floats(8, 12),
            ["count"] = HostTensor.FromInts([.. Enumerable.Range(0, 4).Select(i => i + (int)step)], 4),
        };
    }

    /// <summary>The layouts the snapshot is saved under: w split over both axes, b over axis 1, the rest replicated.</summary>
    public static readonly IReadOnlyDictionary<string, string[]> Specs = new Dictionary<string, string[]>(StringComparer.Ordinal)
    {
        ["w"] = ["S0", "S1"],
        ["b"] = ["S1"],
        ["adam.m"] = ["S01", "R"],
        ["count"] = ["R"],
    };

    public static CheckpointSnapshot Snapshot(long step, int n0 = 2, int n1 = 2)
    {
        var mesh = new MeshShape(n0, n1);
        var tensors = Tensors(step).Select(kv =>
        {
            var layout = new TensorLayout(kv.Value.Shape, ShardingSpec.Parse(Specs[kv.Key]), mesh);
            var shards = Enumerable.Range(0, mesh.Devices)
                .Select(r => (HostTensor?)ShardLayout.Shard(kv.Value, layout.Spec, SpmdFixture.Mesh(n0, n1), r)).ToList();
            return new SnapshotTensor(kv.Key, kv.Key.StartsWith("adam", StringComparison.Ordinal) ? "state" : "parameter",
                                      kv.Value.Ints is null ? "f32" : "i32", layout, shards);
        }).ToList();
        return new CheckpointSnapshot { Step = step, DataPosition = step, RngSeed = 5, Tensors = tensors };
    }

    /// <summary>Flips one byte in the middle of a step's first shard file.</summary>
    public void Corrupt(long step, string file = "rank-00000.bin")
    {
        var path = Path.Combine(CheckpointStore.StepDirectory(Directory, step), file);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(path, bytes);
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
