using Alpa.Kernels;
using Alpa.Silo.Checkpoints;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>
/// Checkpoints of a pipeline: every parameter and optimizer state lives in exactly one stage (later
/// stages receive shared parameters as boundary tensors), each sharded over that stage's own mesh,
/// so the pipeline's tensors are the union of its stages' and each keeps its stage's layout.
/// </summary>
public sealed partial class PipelineStepRunner : ICheckpointable
{
    public IReadOnlyList<PersistentTensor> PersistentTensors =>
        [.. _workers.SelectMany(w => w.Runtime.Executor.PersistentTensors)];

    public HostTensor ReadShard(string name, int rank) => Stage(name).ReadShard(name, rank);

    public void WriteShard(string name, int rank, HostTensor value) => Stage(name).WriteShard(name, rank, value);

    private Dictionary<string, Spmd.SpmdExecutor>? _holders;

    private Spmd.SpmdExecutor Stage(string name)
    {
        _holders ??= _workers.Select(w => w.Runtime.Executor)
            .SelectMany(e => e.PersistentTensors.Select(t => (t.Name, Executor: e)))
            .ToDictionary(x => x.Name, x => x.Executor, StringComparer.Ordinal);
        return _holders.TryGetValue(name, out var e) ? e : throw new ExecutionException($"no stage holds parameter or state '{name}'") { Field = name };
    }
}
