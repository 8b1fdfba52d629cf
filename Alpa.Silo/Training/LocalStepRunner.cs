using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;

namespace Alpa.Silo.Training;

/// <summary>
/// Trains on one local device: the training graph runs in one executor; evaluation runs the
/// forward model in a second executor that receives the current parameters before each pass.
/// </summary>
public sealed class LocalStepRunner : IStepRunner, IDisposable
{
    private readonly GraphExecutor _train;
    private readonly GraphExecutor _eval;
    private readonly string[] _parameters;

    public LocalStepRunner(Graph model, Graph training, Device device, ulong seed, bool profile = false)
    {
        _train = new GraphExecutor(training, device, new ExecutorOptions { Seed = seed, Profile = profile });
        _eval = new GraphExecutor(model, device, new ExecutorOptions { Seed = seed, Profile = false });
        _parameters = model.Parameters.Select(p => p.Name).ToArray();
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

    public void Dispose()
    {
        _train.Dispose();
        _eval.Dispose();
    }

    /// <summary>A CPU device for single-device runs.</summary>
    public static Device CreateCpuDevice() => new CpuDevice(0);
}
