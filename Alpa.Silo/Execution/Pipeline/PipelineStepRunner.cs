using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Pipeline;
using Alpa.Planner.Plans;
using Alpa.Silo.Training;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>
/// Trains a model under a pipeline plan in one process: the microbatch training graph is split into
/// the plan's stages, each stage lowered on its own mesh of CPU devices and run by a
/// <see cref="MeshWorker"/> executing the emitted instruction list; a <see cref="PipelineDriver"/>
/// drives the steps. Evaluation gathers the parameters onto one extra device.
/// </summary>
public sealed partial class PipelineStepRunner : IStepRunner
{
    private readonly Plan _plan;
    private readonly MeshWorker[] _workers;
    private readonly PipelineDriver _driver;
    private readonly CpuDevice _evalDevice = new(0);
    private readonly GraphExecutor _eval;
    private readonly Dictionary<string, StageRuntime> _owner = new(StringComparer.Ordinal);

    /// <param name="model">The forward model at the global batch.</param>
    /// <param name="microbatchTraining">The training graph of one microbatch (global batch / B).</param>
    /// <param name="cluster">Cluster spec of the local devices (link costs for completing the strategy map).</param>
    /// <param name="transportOfWorker">Boundary transport of each worker (e.g. over the data plane when stages live on different silos); default: one in-process transport.</param>
    public PipelineStepRunner(Graph model, Graph microbatchTraining, Plan plan, ClusterSpec cluster, ulong seed, PipelineDriverOptions? options = null,
                              Func<int, IBoundaryTransport>? transportOfWorker = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(plan);
        var stages = StageGraphs.Split(model, microbatchTraining, plan);
        _plan = plan with { Transfers = StageGraphs.Transfers(stages, plan) };
        var programs = InstructionEmitter.Emit(_plan);
        var transport = new InProcessBoundaryTransport();
        var runtimes = new StageRuntime[stages.Count];
        try
        {
            for (var s = 0; s < stages.Count; s++)
            {
                runtimes[s] = new StageRuntime(stages[s], StageLowering.Complete(stages[s].Graph, plan.Stages[s], cluster), seed);
                foreach (var p in stages[s].Graph.Parameters) _owner[p.Name] = runtimes[s];
            }
            Routes = new BoundaryRoutes(_plan, runtimes);
        }
        catch
        {
            foreach (var r in runtimes) r?.Dispose();
            throw;
        }
        _workers = [.. runtimes.Select((r, s) => new MeshWorker(s, r, transportOfWorker?.Invoke(s) ?? transport, Routes))];
        _driver = new PipelineDriver(_workers, programs, options);
        _eval = new GraphExecutor(model, _evalDevice, new ExecutorOptions { Seed = seed, Profile = false });
    }

    /// <summary>The plan as executed: its transfers carry the bytes the stage graphs move.</summary>
    public Plan Plan => _plan;
    public IReadOnlyList<MeshWorker> Workers => _workers;
    /// <summary>The cross-mesh resharding plans of every boundary tensor.</summary>
    public BoundaryRoutes Routes { get; }
    /// <summary>What the driver collected from the last training step.</summary>
    public PipelineStepResult? LastStep { get; private set; }

    public float TrainStep(IReadOnlyDictionary<string, HostTensor> batch, float learningRate, int step)
    {
        var microbatches = Microbatches.Split(batch, _plan.Microbatches);
        LastStep = _driver.RunStepAsync(step, microbatches, learningRate).GetAwaiter().GetResult();
        return LastStep.Loss;
    }

    public float Evaluate(IReadOnlyDictionary<string, HostTensor> batch)
    {
        foreach (var name in _owner.Keys) _eval.Write(name, Read(name));
        return _eval.Run(batch).Loss ?? throw new ExecutionException("the model graph has no loss");
    }

    public HostTensor Read(string name) =>
        _owner.TryGetValue(name, out var r) ? r.Executor.Read(name) : throw new ExecutionException($"no stage holds parameter '{name}'") { Field = name };

    public void Dispose()
    {
        _driver.Dispose();
        foreach (var w in _workers) w.Dispose();
        _eval.Dispose();
        _evalDevice.Dispose();
    }
}

/// <summary>Splits a batch into equal microbatches along the leading (batch) dim of every input.</summary>
public static class Microbatches
{
    public static IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Split(IReadOnlyDictionary<string, HostTensor> batch, int count)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var parts = Enumerable.Range(0, count).Select(_ => new Dictionary<string, HostTensor>(StringComparer.Ordinal)).ToArray();
        foreach (var (name, t) in batch)
        {
            if (t.Shape.Length == 0 || t.Shape[0] % count != 0)
                throw new ExecutionException($"input '{name}' [{string.Join(", ", t.Shape)}] does not split into {count} microbatches") { Field = name };
            var rows = t.Shape[0] / count;
            var per = (int)(t.Elements / count);
            long[] shape = [rows, .. t.Shape.Skip(1)];
            for (var m = 0; m < count; m++)
                parts[m][name] = t.Floats is { } f
                    ? HostTensor.FromFloats(t.Type, f.AsSpan(m * per, per).ToArray(), shape)
                    : HostTensor.FromInts(t.Ints!.AsSpan(m * per, per).ToArray(), shape);
        }
        return parts;
    }
}
