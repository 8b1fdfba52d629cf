using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Checkpoints;
using Alpa.Silo.Training;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>
/// Trains on the CPU devices of one logical mesh under an intra-op plan (<c>--method intra-only</c>).
/// Training steps run sharded (<see cref="SpmdExecutor"/>); evaluation gathers the parameters and
/// runs the forward model on one extra CPU device (it does not change any state).
/// </summary>
public sealed class SpmdStepRunner : IStepRunner, ICheckpointable, IDisposable
{
    private readonly SpmdExecutor _train;
    private readonly CpuDevice _evalDevice = new(0);
    private readonly GraphExecutor _eval;
    private readonly string[] _parameters;

    /// <param name="model">The forward model (for evaluation).</param>
    /// <param name="training">The training graph <paramref name="plan"/> was made for.</param>
    /// <param name="plan">The intra-op plan of <paramref name="training"/>; its mesh gives the devices.</param>
    /// <param name="seed">Parameter initialization seed, as for <see cref="LocalStepRunner"/>.</param>
    public SpmdStepRunner(Graph model, Graph training, IntraResult plan, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(model);
        _train = new SpmdExecutor(training, plan, seed);
        _eval = new GraphExecutor(model, _evalDevice, new ExecutorOptions { Seed = seed, Profile = false });
        _parameters = [.. model.Parameters.Select(p => p.Name)];
    }

    public SpmdExecutor Executor => _train;

    /// <summary>Per-device bytes and collectives of the last training step.</summary>
    public SpmdStepResult? LastStep { get; private set; }

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

    /// <summary>Current full value of a parameter.</summary>
    public HostTensor Read(string name) => _train.Read(name);

    public IReadOnlyList<PersistentTensor> PersistentTensors => _train.PersistentTensors;

    public HostTensor ReadShard(string name, int rank) => _train.ReadShard(name, rank);

    public void WriteShard(string name, int rank, HostTensor value) => _train.WriteShard(name, rank, value);

    public void Dispose()
    {
        _train.Dispose();
        _eval.Dispose();
        _evalDevice.Dispose();
    }
}
