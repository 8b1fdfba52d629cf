using System.Diagnostics;
using Alpa.Client.Contracts;
using Alpa.Kernels;
using Alpa.Planner.Cluster;
using Alpa.Planner.Models;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;
using Alpa.Planner.Sharding;
using Alpa.Planner.Training;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Execution.Pipeline;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Execution.Cluster;

/// <summary>What this silo's share of a step produced.</summary>
/// <param name="Loss">Mean loss over the microbatches when this silo runs a part of the last stage; else null.</param>
/// <param name="Seconds">Wall time of the step here.</param>
/// <param name="PeakMemoryBytes">Largest live bytes of one of this silo's devices during the step.</param>
/// <param name="Workers">Each local stage's result (its timed instructions), in stage order.</param>
public sealed record SiloStepResult(float? Loss, double Seconds, long PeakMemoryBytes, IReadOnlyList<WorkerStepResult> Workers);

/// <summary>
/// One silo's share of a <see cref="ClusterJob"/>: the stages (or the parts of stage meshes) whose devices
/// this silo owns, each lowered here and run by a <see cref="MeshWorker"/> on the job's instruction list.
/// Only these stages are lowered and allocated; routes to and from the others use the job's boundary specs.
/// A stage whose mesh spans silos runs this silo's ranks with <see cref="ClusterCollectives"/> over the mesh's
/// ranks (tag <see cref="ClusterJob.CollectiveTag"/>); a stage inside this silo uses in-process collectives.
/// Boundary tensors go over the data plane (<see cref="DataPlaneBoundaryTransport"/>), between stages on
/// this silo through a mailbox.
/// </summary>
public sealed class ClusterStages : IDisposable
{
    private readonly ClusterJob _job;
    private readonly Dictionary<int, StageRuntime> _local = [];
    private readonly List<MeshWorker> _workers = [];
    private readonly List<ClusterCollectives> _collectives = [];
    private readonly CancellationTokenSource _stopped = new();
    private bool _disposed;

    public ClusterStages(ClusterJob job, IPeerTransport peers)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(peers);
        _job = job;
        var (stages, plan) = Split(ModelZoo.Get(job.Model), job.ReadPlan());
        Plan = plan;
        var cluster = job.ReadCluster();
        try
        {
            foreach (var s in Enumerable.Range(0, stages.Count).Where(s => plan.Stages[s].Devices.Any(d => job.SiloOfDevice(d) == peers.Self)))
            {
                var runtime = new StageRuntime(stages[s], StageLowering.Complete(stages[s].Graph, plan.Stages[s], cluster), (ulong)job.Seed, Placement(s, peers));
                _local[s] = runtime;
                Check(s, runtime.Layout, peers.Self);
            }
            var layouts = stages.Select(st => _local.TryGetValue(st.Stage, out var r) ? r.Layout : Layout(plan.Stages[st.Stage], job.BoundarySpecs[st.Stage], cluster)).ToList();
            var routes = new BoundaryRoutes(plan, stages, layouts, _local);
            var silosOfStage = stages.Select(st => job.SilosOfStage(st.Stage)).ToList();
            var mailbox = new BoundaryMailbox();
            var programs = InstructionEmitter.Emit(plan);
            foreach (var (s, runtime) in _local)
            {
                var transport = new DataPlaneBoundaryTransport(peers, silosOfStage,
                    (tile, buffer) => routes.Receivers(tile.Name, buffer.From, buffer.To, tile.Tile).Select(job.SiloOfDevice).ToHashSet(StringComparer.Ordinal), job.Tag, mailbox);
                var worker = new MeshWorker(s, runtime, transport, routes);
                _workers.Add(worker);
                worker.LoadProgramAsync(new WorkerLoad(job.JobId, s, programs[s])).GetAwaiter().GetResult();
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>The plan as executed (its transfers carry the bytes the stage graphs move).</summary>
    public Plan Plan { get; }

    /// <summary>Stages this silo runs (all of a stage or its part of a mesh spanning silos), in stage order.</summary>
    public IReadOnlyList<int> Stages => [.. _local.Keys.Order()];

    /// <summary>The runtime of local stage <paramref name="stage"/> (this silo's ranks of its mesh).</summary>
    public StageRuntime Runtime(int stage) => _local[stage];

    /// <summary>The devices of stage <paramref name="stage"/>'s mesh (plan device indices) that live on <paramref name="silo"/>.</summary>
    public IReadOnlyList<int> DevicesOn(int stage, string silo) => [.. Plan.Stages[stage].Devices.Where(d => _job.SiloOfDevice(d) == silo)];

    /// <summary>
    /// Every stage's boundary specs as its pinned lowering holds them (pure: no devices); computed once per job
    /// by whoever makes it, so that each silo lowers only its own stages.
    /// </summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, string[]>> LowerBoundarySpecs(ModelSpec spec, Plan plan, ClusterSpec cluster)
    {
        ArgumentNullException.ThrowIfNull(plan);
        var (stages, _) = Split(spec, plan);
        return [.. stages.Select(st =>
        {
            var program = SpmdProgram.Lower(st.Graph, StageLowering.Complete(st.Graph, plan.Stages[st.Stage], cluster));
            return (IReadOnlyDictionary<string, string[]>)BoundaryNames(st).ToDictionary(n => n, n => program[st.Graph[n].Id].Strategy.Output.ToStrings(), StringComparer.Ordinal);
        })];
    }

    /// <summary>Runs one step on every local stage at once; the first failure cancels the others and is thrown.</summary>
    public async Task<SiloStepResult> RunStepAsync(long step, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> microbatches, float learningRate,
                                                  CancellationToken cancellationToken = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var start = Stopwatch.GetTimestamp();
        var message = new WorkerStep(_job.JobId, step + 1, microbatches, learningRate, start);
        var tasks = _workers.Select(w => Task.Run(() => Guard(w.RunStepAsync(message, cts.Token), cts, _stopped), CancellationToken.None)).ToArray();
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch (Exception) when (tasks.FirstOrDefault(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException) is { } failed)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed.Exception!.InnerException!);
        }
        var replies = tasks.Select(t => t.Result).ToList();
        var loss = replies.LastOrDefault(r => r.Loss is not null)?.Loss;
        return new SiloStepResult(loss, Stopwatch.GetElapsedTime(start).TotalSeconds, replies.Max(r => r.PeakMemoryBytes), replies);
    }

    /// <summary>
    /// Cancels the other local stages as soon as one fails: their RECVs stop waiting, and so do their
    /// cross-silo collectives (a failed step fails the job, so the job's collectives stop for good).
    /// </summary>
    private static async Task<WorkerStepResult> Guard(Task<WorkerStepResult> run, CancellationTokenSource step, CancellationTokenSource job)
    {
        try
        {
            return await run.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await step.CancelAsync().ConfigureAwait(false);
            await job.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>This silo's blocks of every parameter of its stages (each region once per stage).</summary>
    public IReadOnlyList<ParameterBlock> ReadParameters() =>
        [.. _local.SelectMany(kv => kv.Value.Stage.Graph.Parameters.SelectMany(p => kv.Value.Executor.ReadBlocks(p.Name).Select(b =>
            new ParameterBlock(p.Name, kv.Key, [.. p.Shape.ToArray()], b.Offsets, b.Data.Shape, b.Data.Floats ?? [.. b.Data.Ints!.Select(i => (float)i)]))))];

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stopped.Cancel();
        foreach (var w in _workers) w.Dispose();
        foreach (var (s, r) in _local)
            if (!_workers.Any(w => w.Index == s)) r.Dispose();
        foreach (var c in _collectives) c.Dispose();
        _workers.Clear();
        _local.Clear();
        _collectives.Clear();
        _stopped.Dispose();
    }

    private static (IReadOnlyList<StageGraph> Stages, Plan Plan) Split(ModelSpec spec, Plan plan)
    {
        var micro = TrainingGraph.Build(spec.Build(spec.Batch / plan.Microbatches), ClusterJob.Training);
        var stages = StageGraphs.Split(spec.Build(), micro, plan);
        return (stages, plan with { Transfers = StageGraphs.Transfers(stages, plan) });
    }

    private static IEnumerable<string> BoundaryNames(StageGraph stage) => stage.Sent.Concat(stage.Received).Select(t => t.Name).Distinct();

    /// <summary>This silo's ranks of stage <paramref name="stage"/>'s mesh and collectives across its silos; null when the whole mesh is here.</summary>
    private MeshPlacement? Placement(int stage, IPeerTransport peers)
    {
        var siloOfRank = Plan.Stages[stage].Devices.Select(_job.SiloOfDevice).ToList();
        if (siloOfRank.All(s => s == peers.Self)) return null;
        var collectives = new ClusterCollectives(new RankPlacement(siloOfRank, peers.Self), peers, new CollectiveOptions { Tag = _job.CollectiveTag(stage) }, _stopped.Token);
        _collectives.Add(collectives);
        return new MeshPlacement { LocalRanks = [.. Enumerable.Range(0, siloOfRank.Count).Where(r => siloOfRank[r] == peers.Self)], Collectives = collectives };
    }

    /// <summary>Refuses a local lowering whose boundary specs differ from the job's (the silos would cut tensors differently).</summary>
    private void Check(int stage, StageLayout layout, string self)
    {
        foreach (var (name, spec) in layout.Specs)
            if (!_job.BoundarySpecs[stage].TryGetValue(name, out var shipped) || !ShardingSpec.Parse(shipped).Equals(spec))
                throw new ExecutionException($"stage {stage} lowered on silo {self} holds '{name}' as {spec}, the job says " +
                                             $"{(shipped is null ? "nothing" : ShardingSpec.Parse(shipped).ToString())}: the silos run different versions of alpa") { Field = name };
    }

    private static StageLayout Layout(PlanStage stage, IReadOnlyDictionary<string, string[]> specs, ClusterSpec cluster) =>
        new(LogicalMesh.Create(cluster.WithShape(stage.Submesh.Hosts, stage.Submesh.Devices), stage.LogicalMesh.N0, stage.LogicalMesh.N1),
            specs.ToDictionary(kv => kv.Key, kv => ShardingSpec.Parse(kv.Value), StringComparer.Ordinal));
}
