using Alpa.Planner.Sharding;
using Alpa.Planner.Inter;

namespace Alpa.Planner.Pipeline;

/// <summary>What a buffer of a worker holds.</summary>
public enum BufferKind
{
    /// <summary>Activations a stage's forward keeps for its backward (one microbatch).</summary>
    Stash,
    /// <summary>A forward boundary tensor from stage <see cref="BufferId.From"/> to stage <see cref="BufferId.To"/>.</summary>
    Activation,
    /// <summary>A backward boundary gradient from stage <see cref="BufferId.From"/> to the earlier stage <see cref="BufferId.To"/>.</summary>
    Gradient,
}

/// <summary>Names a buffer of one microbatch; the same id names it on the sending and the receiving mesh.</summary>
public readonly record struct BufferId(BufferKind Kind, int From, int To, int Microbatch)
{
    public static BufferId Stash(int stage, int microbatch) => new(BufferKind.Stash, stage, stage, microbatch);
    public static BufferId Activation(int from, int to, int microbatch) => new(BufferKind.Activation, from, to, microbatch);
    public static BufferId Gradient(int from, int to, int microbatch) => new(BufferKind.Gradient, from, to, microbatch);

    public override string ToString() => Kind switch
    {
        BufferKind.Stash => $"stash[{From}]#{Microbatch}",
        BufferKind.Activation => $"act[{From}>{To}]#{Microbatch}",
        _ => $"grad[{From}>{To}]#{Microbatch}",
    };
}

/// <summary>
/// One instruction of a worker's list (DESIGN §1, §5): the simulator replays these lists with predicted
/// costs and the mesh workers execute the same lists with kernels. Semantics:
/// RUN blocks the mesh for the stage program's duration; SEND starts an asynchronous transfer and
/// returns; RECV blocks until the tensor has arrived; FREE releases buffers (a buffer still being sent
/// is released when its transfer completes); COLLECTIVE and UPDATE block the mesh.
/// </summary>
public abstract record Instruction;

/// <summary>Runs the forward or backward program of <paramref name="Stage"/> on one microbatch.</summary>
/// <param name="Inputs">Buffers the program reads (received boundary tensors, the stash for a backward).</param>
/// <param name="Outputs">Buffers the program creates (the stash and outgoing boundary tensors).</param>
public sealed record Run(int Stage, int Microbatch, RunKind Kind, IReadOnlyList<BufferId> Inputs, IReadOnlyList<BufferId> Outputs) : Instruction;

/// <summary>Sends <paramref name="Tensor"/> from this stage's mesh to <paramref name="ToStage"/>'s mesh (cross-mesh resharding).</summary>
public sealed record Send(BufferId Tensor, int FromStage, int ToStage, int Microbatch, long Bytes) : Instruction;

/// <summary>Receives <paramref name="Tensor"/> from <paramref name="FromStage"/>'s mesh; blocks until it has arrived.</summary>
public sealed record Recv(BufferId Tensor, int FromStage, int ToStage, int Microbatch, long Bytes) : Instruction;

/// <summary>Releases buffers.</summary>
public sealed record Free(IReadOnlyList<BufferId> Buffers) : Instruction;

/// <summary>An intra-mesh collective of <paramref name="Stage"/> once per step, e.g. the data-parallel gradient all-reduce.</summary>
/// <param name="Axis">Logical mesh axis of the groups (−1: all devices of the mesh).</param>
/// <param name="Bytes">Bytes of the full logical tensor within one group.</param>
/// <param name="Index">Position of this collective among the stage's per-step collectives in the plan.</param>
public sealed record Collective(int Stage, CollectiveKind Kind, int Axis, long Bytes, int Index) : Instruction;

/// <summary>Applies the optimizer step to the parameters of <paramref name="Stage"/> (after gradient accumulation and sync).</summary>
public sealed record UpdateStage(int Stage) : Instruction;

/// <summary>The instruction list of one stage mesh; every host holding its devices executes its part of it.</summary>
/// <param name="Stage">Stage index.</param>
/// <param name="Devices">Global device ids of the mesh.</param>
/// <param name="Hosts">Hosts the mesh spans.</param>
public sealed record WorkerProgram(int Stage, IReadOnlyList<int> Devices, IReadOnlyList<int> Hosts, IReadOnlyList<Instruction> Instructions);
