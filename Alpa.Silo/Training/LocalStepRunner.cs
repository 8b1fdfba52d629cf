using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Execution;

namespace Alpa.Silo.Training;

/// <summary>
/// Trains on one local device: the training graph runs in one executor; evaluation runs the
/// forward model in a second executor that receives the current parameters before each pass.
/// </summary>
public sealed class LocalStepRunner : IStepRunner, ICheckpointable, IDisposable
{
    private readonly GraphExecutor _train;
    private readonly GraphExecutor _eval;
    private readonly string[] _parameters;
    private readonly PersistentTensor[] _persistent;

    public LocalStepRunner(Graph model, Graph training, Device device, ulong seed, bool profile = false)
    {
        _train = new GraphExecutor(training, device, new ExecutorOptions { Seed = seed, Profile = profile });
        _eval = new GraphExecutor(model, device, new ExecutorOptions { Seed = seed, Profile = false });
        _parameters = model.Parameters.Select(p => p.Name).ToArray();
        _persistent = [.. training.Nodes.Where(n => n.Op is OpKind.Parameter or OpKind.State).Select(n => new PersistentTensor(
            n.Name, n.Op == OpKind.Parameter ? "parameter" : "state", n.DType.ToJsonName(), TensorLayout.Whole(n.Shape.ToArray())))];
    }

    /// <summary>The per-op profile of the last training step, when profiling was asked for.</summary>
    public StepResult? LastStep { get; private set; }

    public float TrainStep(IReadOnlyDictionary<string, HostTensor> batch, float learningRate, int step)
    {
        var inputs = Trainer.StepInputs(batch, learningRate, step);
        LastStep = _train.Run(inputs);
        return LastStep.Loss ?? throw new ExecutionException("the training graph has no loss");
    }

    public float Evaluate(IReadOnlyDictionary<string, HostTensor> batch)
    {
        foreach (var p in _parameters) _eval.Write(p, _train.Read(p));
        return _eval.Run(batch).Loss ?? throw new ExecutionException("the model graph has no loss");
    }

    /// <summary>Current value of a parameter.</summary>
    public HostTensor Read(string name) => _train.Read(name);

    public IReadOnlyList<PersistentTensor> PersistentTensors => _persistent;

    /// <summary>The whole tensor (one device: rank 0 only).</summary>
    public HostTensor ReadShard(string name, int rank) => _train.Read(name);

    public void WriteShard(string name, int rank, HostTensor value) => _train.Write(name, value);

    public void Dispose()
    {
        _train.Dispose();
        _eval.Dispose();
    }

    /// <summary>A CPU device for single-device runs.</summary>
    public static Device CreateCpuDevice() => new CpuDevice(0);
}
