using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Tests.Spmd;

/// <summary>Every spec-to-spec conversion gives exactly the shards of the target spec.</summary>
public sealed class ResharderTests
{
    [Theory]
    [InlineData(2, 2)]
    [InlineData(1, 4)]
    [InlineData(4, 1)]
    public void EveryPairOfSpecsReshardsExactly(int n0, int n1)
    {
        var mesh = SpmdFixture.Mesh(n0, n1);
        var shape = new Shape(4, 8, 4);
        var full = HostTensor.FromFloats([.. Enumerable.Range(0, (int)shape.Elements).Select(i => (float)i)], shape.ToArray());
        var devices = Enumerable.Range(0, mesh.Devices).Select(r => new CpuDevice(r)).ToArray();
        try
        {
            var comm = new MeshCommunicator(mesh, devices, new SharedMemoryCollectives(mesh.Devices));
            var specs = ShardingSpec.All(shape, mesh);
            Assert.True(specs.Count >= 4);
            foreach (var src in specs)
            {
                var x = devices.Select((d, r) => d.Upload(ShardLayout.Shard(full, src, mesh, r))).ToArray();
                foreach (var dst in specs)
                {
                    var y = Resharder.Reshard(comm, x, src, dst, "t", "test");
                    for (var r = 0; r < y.Length; r++)
                    {
                        var want = ShardLayout.Shard(full, dst, mesh, r);
                        Assert.True(want.Shape.AsSpan().SequenceEqual(y[r].Shape), $"{src}→{dst} rank {r}: shape");
                        Assert.True(want.Floats!.AsSpan().SequenceEqual(y[r].Floats()), $"{src}→{dst} rank {r}: values");
                        y[r].Dispose();
                    }
                }
                foreach (var t in x) t.Dispose();
            }
            Assert.All(devices, d => Assert.Equal(0, d.Memory.LiveBytes));
        }
        finally
        {
            foreach (var d in devices) d.Dispose();
        }
    }

    [Fact]
    public void ShardAndAssembleRoundTrip()
    {
        var mesh = SpmdFixture.Mesh(2, 2);
        var shape = new Shape(4, 6);
        var full = HostTensor.FromFloats([.. Enumerable.Range(0, 24).Select(i => (float)i)], 4, 6);
        foreach (var spec in ShardingSpec.All(shape, mesh))
        {
            var shards = Enumerable.Range(0, 4).Select(r => ShardLayout.Shard(full, spec, mesh, r)).ToList();
            Assert.Equal(full.Floats, ShardLayout.Assemble(shards, shape, spec, mesh).Floats);
        }
        var s01 = ShardLayout.Shard(full, ShardingSpec.Parse(["S01", "R"]), mesh, 2);
        Assert.Equal(new float[] { 12, 13, 14, 15, 16, 17 }, s01.Floats);
    }
}
