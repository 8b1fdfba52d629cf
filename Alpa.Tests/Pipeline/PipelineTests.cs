using Alpa.Planner.Sharding;
using Alpa.Planner.Inter;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;

namespace Alpa.Tests.Pipeline;

public sealed class PipelineTests
{
    internal static Plan SyntheticPlan(int stages, int microbatches, PipelineSchedule schedule, Random rng, bool skipTransfers = true)
    {
        var cluster = new InterOpCluster
        {
            Hosts = stages, DevicesPerHost = 2, DeviceMemoryBytes = 1L << 34,
            IntraHostBandwidth = 1e9, InterHostBandwidth = 1e8,
        };
        var devices = StagePlacement.Place(Enumerable.Repeat(new SubmeshShape(1, 2), stages).ToArray(), stages, 2);
        var planStages = Enumerable.Range(0, stages).Select(s => new PlanStage
        {
            FirstLayer = s, LastLayer = s, Submesh = new SubmeshShape(1, 2), LogicalMesh = new LogicalMeshShape(2, 1),
            Devices = devices[s], Strategies = new Dictionary<string, string>(), ParameterSpecs = new Dictionary<string, IReadOnlyList<string>>(),
            ForwardSeconds = 0.5 + rng.NextDouble(), BackwardSeconds = 1 + 2 * rng.NextDouble(), UpdateSeconds = 0.1,
            ParameterBytes = 1000, ActivationBytes = 100, Flops = 1e12,
            Collectives = [new StepCollective { Kind = CollectiveKind.AllReduce, Axis = 0, Bytes = 1000, Seconds = 0.2 }],
        }).ToArray();
        var transfers = new List<PlanTransfer>();
        for (var a = 0; a < stages; a++)
            for (var z = a + 1; z < stages; z++)
                if (z == a + 1 || (skipTransfers && rng.NextDouble() < 0.3)) transfers.Add(new PlanTransfer(a, z, rng.Next(0, 1 << 20)));
        return new Plan
        {
            GraphHash = "sha256:test", ClusterHash = cluster.EffectiveHash, Schedule = schedule, Microbatches = microbatches,
            Stages = planStages, Transfers = transfers, Cluster = cluster,
        };
    }

    [Theory]
    [InlineData(PipelineSchedule.OneFOneB)]
    [InlineData(PipelineSchedule.GPipe)]
    public void EmittedListsRespectDependenciesAndTheMemoryCheck(PipelineSchedule schedule)
    {
        var rng = new Random(11);
        for (var instance = 0; instance < 60; instance++)
        {
            var stages = rng.Next(1, 6);
            var b = rng.Next(1, 9);
            var plan = SyntheticPlan(stages, b, schedule, rng);
            var programs = InstructionEmitter.Emit(plan);
            CheckStatically(programs, b);
            var sim = PipelineSimulator.Simulate(plan, programs);
            for (var s = 0; s < stages; s++)
                Assert.Equal(ScheduleOrder.LiveMicrobatches(schedule, s, stages, b), sim.Stages[s].PeakLiveMicrobatches);
            Assert.Equal(stages, sim.Collectives.Count);
            Assert.InRange(sim.BubbleFraction, 0, 1);
        }
    }

    /// <summary>Every SEND has its RECV and vice versa; RUN inputs exist when it runs; every buffer is freed once; each (stage, mb, kind) runs once.</summary>
    private static void CheckStatically(IReadOnlyList<WorkerProgram> programs, int microbatches)
    {
        var sends = programs.SelectMany(p => p.Instructions.OfType<Send>()).ToDictionary(x => x.Tensor);
        var recvs = programs.SelectMany(p => p.Instructions.OfType<Recv>()).ToDictionary(x => x.Tensor);
        Assert.True(sends.Keys.ToHashSet().SetEquals(recvs.Keys));
        foreach (var (tensor, send) in sends)
            Assert.Equal((send.FromStage, send.ToStage, send.Bytes), (recvs[tensor].FromStage, recvs[tensor].ToStage, recvs[tensor].Bytes));
        foreach (var program in programs)
        {
            var live = new HashSet<BufferId>();
            var runs = new HashSet<(int, RunKind)>();
            foreach (var instruction in program.Instructions)
            {
                switch (instruction)
                {
                    case Recv r: Assert.True(live.Add(r.Tensor)); Assert.Equal(program.Stage, r.ToStage); break;
                    case Run run:
                        Assert.All(run.Inputs, i => Assert.Contains(i, live));
                        Assert.All(run.Outputs, o => Assert.True(live.Add(o)));
                        Assert.True(runs.Add((run.Microbatch, run.Kind)));
                        break;
                    case Send s: Assert.Contains(s.Tensor, live); break;
                    case Free f: Assert.All(f.Buffers, x => Assert.True(live.Remove(x))); break;
                }
            }
            Assert.Empty(live);
            Assert.Equal(2 * microbatches, runs.Count);
            Assert.IsType<UpdateStage>(program.Instructions[^1]);
        }
    }

    [Fact]
    public void TwoStage1F1BMatchesTheHandTimeline()
    {
        // f = 1, b = 2, instant transfers, B = 2: stage 1 runs F0 [1,2] B0 [2,4] F1 [4,5] B1 [5,7];
        // stage 0 runs F0 [0,1] F1 [1,2] B0 [4,6] B1 [7,9]; then sync 0.2 and update 0.1.
        var plan = SyntheticPlan(2, 2, PipelineSchedule.OneFOneB, new Random(1)) is var p
            ? p with
            {
                Cluster = p.Cluster with { IntraHostLatency = 0, InterHostLatency = 0, InterHostBandwidth = double.MaxValue },
                Stages = p.Stages.Select(s => s with { ForwardSeconds = 1, BackwardSeconds = 2 }).ToArray(),
            }
            : throw new InvalidOperationException();
        var sim = PipelineSimulator.Simulate(plan);
        Assert.Equal(9.3, sim.StepSeconds, 9);
        Assert.Equal(7.3, sim.Stages[1].FinishSeconds, 9);
        var busy = 2 * (2 * 3 + 0.3);
        Assert.Equal(1 - busy / (2 * 9.3), sim.BubbleFraction, 9);
        Assert.Equal(2 * 2e12 / 9.3 / 4 / 1e12, sim.TflopsPerDevice, 9);
    }

    [Fact]
    public void BrokenListsAreReported()
    {
        var plan = SyntheticPlan(2, 2, PipelineSchedule.OneFOneB, new Random(2), skipTransfers: false);
        var programs = InstructionEmitter.Emit(plan);
        // Drop stage 0's sends: stage 1 waits forever.
        var starved = programs.Select(p => p.Stage == 0 ? p with { Instructions = p.Instructions.Where(i => i is not Send).ToArray() } : p).ToArray();
        var e = Assert.Throws<PipelineException>(() => PipelineSimulator.Simulate(plan, starved));
        Assert.Contains("deadlock", e.Message, StringComparison.Ordinal);
        // Drop stage 1's frees: buffers leak.
        var leaking = programs.Select(p => p.Stage == 1 ? p with { Instructions = p.Instructions.Where(i => i is not Free).ToArray() } : p).ToArray();
        Assert.Throws<PipelineException>(() => PipelineSimulator.Simulate(plan, leaking));
    }

    [Fact]
    public void TransfersUseTheLinkBetweenTheMeshes()
    {
        var cluster = new InterOpCluster { Hosts = 2, DevicesPerHost = 4, DeviceMemoryBytes = 1, IntraHostBandwidth = 100, InterHostBandwidth = 10, IntraHostLatency = 0, InterHostLatency = 0 };
        Assert.Equal(1.0, PipelineSimulator.TransferSeconds(cluster, [0, 1], [2, 3], 200), 12);
        Assert.Equal(10.0, PipelineSimulator.TransferSeconds(cluster, [0, 1], [4, 5], 100), 12);
    }
}
