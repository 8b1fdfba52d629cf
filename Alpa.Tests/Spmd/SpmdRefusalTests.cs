using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Tests.Spmd;

/// <summary>Bad plans are refused before any work; the collectives themselves are exact and reproducible.</summary>
public sealed class SpmdRefusalTests
{
    [Fact]
    public void PlanForAnotherGraphIsRefused()
    {
        var (_, mlp) = SpmdFixture.Build("mlp");
        var (_, gpt) = SpmdFixture.Build("gpt-tiny");
        var plan = IntraOpPass.Run(mlp, SpmdFixture.Mesh(1, 4));
        var e = Assert.Throws<SpmdException>(() => new SpmdExecutor(gpt, plan, 1));
        Assert.Contains("another graph", e.Message);
    }

    [Fact]
    public void ShapesThatDoNotDivideAreRefusedNamingTheNode()
    {
        var (_, t) = SpmdFixture.Build("mlp");
        var pins = SpmdFixture.Pins(t, n => n.Name == "x" ? ["S1", "R"] : null);
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(1, 4), new IntraOptions { FixedSpecs = pins });
        var odd = TrainingGraph.Build(ModelZoo.Get("mlp").Build(6), new TrainingOptions { Optimizer = new Adam() });
        var e = Assert.Throws<SpmdException>(() => new SpmdExecutor(odd, plan, 1));
        Assert.Contains("'x'", e.Message);
        Assert.Contains("S1R", e.Message);
    }

    [Fact]
    public void UnknownStrategyIdIsRefusedNamingNodeAndStrategy()
    {
        var (_, t) = SpmdFixture.Build("mlp");
        var plan = IntraOpPass.Run(t, SpmdFixture.Mesh(2, 2));
        var node = plan.Strategies.Keys.First();
        var bogus = plan.NodeStrategies[node] with { Id = "RR,RR→RR|Bogus@0" };
        var strategies = plan.NodeStrategies.ToDictionary(kv => kv.Key, kv => kv.Value);
        strategies[node] = bogus;
        var e = Assert.Throws<SpmdException>(() => new SpmdExecutor(t, plan with { NodeStrategies = strategies }, 1));
        Assert.Contains(node, e.Message);
        Assert.Contains("RR,RR→RR|Bogus@0", e.Message);
    }

    [Fact]
    public void CollectivesAreExactAndReproducible()
    {
        var devices = Enumerable.Range(0, 4).Select(r => new CpuDevice(r)).ToArray();
        try
        {
            var comm = new SharedMemoryCollectives(4);
            int[] ranks = [0, 1, 2, 3];
            Tensor Make(int r, float[] v, params long[] shape) => devices[r].Upload(HostTensor.FromFloats(v, shape));
            var x = ranks.Select(r => Make(r, [r, 10 * r, 0.1f * r, 1e8f], 2, 2)).ToArray();
            comm.AllReduce(ranks, x);
            foreach (var t in x) Assert.Equal(new[] { 6f, 60f, 0f + 0.1f + 0.2f + 0.3f, 4e8f }, t.Floats().ToArray());
            var parts = ranks.Select(r => Make(r, [r, r], 1, 2)).ToArray();
            var gathered = ranks.Select(r => devices[r].Allocate(ElementType.F32, [4, 2])).ToArray();
            comm.AllGather(ranks, parts, gathered, 0);
            Assert.Equal(new float[] { 0, 0, 1, 1, 2, 2, 3, 3 }, gathered[2].Floats().ToArray());
            var scattered = ranks.Select(r => devices[r].Allocate(ElementType.F32, [1, 2])).ToArray();
            comm.ReduceScatter(ranks, gathered, scattered, 0);
            Assert.Equal(new float[] { 12, 12 }, scattered[3].Floats().ToArray());
            var a2a = ranks.Select(r => Make(r, [4 * r, 4 * r + 1, 4 * r + 2, 4 * r + 3], 1, 4)).ToArray();
            var moved = ranks.Select(r => devices[r].Allocate(ElementType.F32, [4, 1])).ToArray();
            comm.AllToAll(ranks, a2a, moved, 1, 0);
            Assert.Equal(new float[] { 1, 5, 9, 13 }, moved[1].Floats().ToArray());
            var received = devices[3].Allocate(ElementType.F32, [1, 2]);
            comm.SendRecv(0, parts[1], 3, received);
            Assert.Equal(new float[] { 1, 1 }, received.Floats().ToArray());
            Assert.Equal(16 * 2 * 3 / 4 + 32 * 3 / 4 + 32 * 3 / 4 + 16 * 3 / 4 + 8, comm.Traffic(0).BytesSent);
            Assert.Throws<KernelException>(() => comm.AllReduce([0, 0], [x[0], x[1]]));
        }
        finally
        {
            foreach (var d in devices) d.Dispose();
        }
    }
}
