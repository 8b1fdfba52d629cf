namespace Alpa.Client.Contracts;

/// <summary>
/// One per silo (key: the silo address), pinned to the silo's devices. Holds the device buffers and
/// compiled stage programs of the jobs placed on it and interprets their instruction lists
/// (RUN / SEND / RECV / FREE / collective / UPDATE). Its body comes with the execution issue.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain] // calls of different jobs overlap; releasing a job cancels its step stuck on a dead peer
public interface IMeshWorkerGrain : IGrain
{
    /// <summary>The devices this worker owns and their free memory.</summary>
    Task<MeshWorkerInfo> GetInfoAsync(CancellationToken cancellationToken = default);

    /// <summary>Installs a job's instruction list for this worker (shipped once per job).</summary>
    Task LoadProgramAsync(LoadProgramRequest request, CancellationToken cancellationToken = default);

    /// <summary>Runs one training step of a loaded job and reports the worker's share of the metrics.</summary>
    Task<StepReply> RunStepAsync(StepRequest request, CancellationToken cancellationToken = default);

    /// <summary>Frees every buffer and program of a job.</summary>
    Task ReleaseJobAsync(ReleaseJobRequest request, CancellationToken cancellationToken = default);

    /// <summary>This worker's blocks of a loaded job's parameters; the blocks of all workers assemble every parameter (e.g. for <c>--check</c>).</summary>
    Task<ParametersReply> ReadParametersAsync(ReadParametersRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Phase one of a checkpoint across silos: copies this worker's blocks of its stages (or of its part of a stage
    /// mesh spanning silos) to the host, then writes and syncs them into the step directory (a path every silo
    /// reaches) and returns their manifest entries; the driver commits the manifest once every worker replied.
    /// With <see cref="SaveShardsRequest.Background"/> it returns as soon as the copy is taken (the next step may run)
    /// and writes in the background; <see cref="AwaitShardsAsync"/> then returns the entries.
    /// </summary>
    Task<SaveShardsReply> SaveShardsAsync(SaveShardsRequest request, CancellationToken cancellationToken = default);

    /// <summary>Waits for the background write of a <see cref="SaveShardsAsync"/> and returns this worker's manifest entries.</summary>
    Task<SaveShardsReply> AwaitShardsAsync(AwaitShardsRequest request, CancellationToken cancellationToken = default);

    /// <summary>Loads this worker's stage from a committed checkpoint, resharded to the stage's layout, each block verified.</summary>
    Task<RestoreShardsReply> RestoreShardsAsync(RestoreShardsRequest request, CancellationToken cancellationToken = default);
}

/// <summary>Save the state after <see cref="Step"/> steps of job <see cref="JobId"/> into <see cref="StepDirectory"/>.</summary>
/// <param name="Background">Reply once the state is copied to the host and write it in the background (collect the part with <c>AwaitShards</c>); false = reply when written.</param>
public sealed record SaveShardsRequest(string JobId, long Step, string StepDirectory, bool Background = false);

/// <summary>Collect the part of the background save of step <see cref="Step"/> of job <see cref="JobId"/>.</summary>
public sealed record AwaitShardsRequest(string JobId, long Step);

/// <summary>
/// This worker's part of the manifest (tensors with tiles and checksums, shard files) as JSON, and the seconds it took
/// (a background save answers first with an empty part and the seconds of the copy).
/// </summary>
public sealed record SaveShardsReply(string JobId, long Step, string PartJson, double Seconds);

/// <summary>Load job <see cref="JobId"/>'s stage on this worker from the committed checkpoint at <see cref="StepDirectory"/>.</summary>
public sealed record RestoreShardsRequest(string JobId, string StepDirectory);

/// <summary>The checkpoint's step, the bytes this worker read and the seconds it took.</summary>
public sealed record RestoreShardsReply(string JobId, long Step, long Bytes, double Seconds);

/// <summary>Devices of a worker and their free memory in bytes (same order).</summary>
public sealed record MeshWorkerInfo(string Silo, IReadOnlyList<string> Devices, IReadOnlyList<long> FreeMemoryBytes);

/// <summary>A job's instruction list for one worker, as the planner's JSON.</summary>
public sealed record LoadProgramRequest(string JobId, int WorkerIndex, string ProgramJson);

/// <summary>Runs step <see cref="Step"/> of job <see cref="JobId"/>.</summary>
public sealed record StepRequest(string JobId, long Step);

/// <summary>Loss (on the last stage, else NaN), seconds spent and peak device memory of one step.</summary>
/// <param name="Events">The worker's executed instructions, one per device of its stage, in seconds from when the
/// worker received the step (null from workers that do not time them).</param>
public sealed record StepReply(string JobId, long Step, double Loss, double Seconds, long PeakMemoryBytes,
                               IReadOnlyList<Jobs.TimelineEvent>? Events = null);

public sealed record ReleaseJobRequest(string JobId);

/// <summary>Asks a worker for its blocks of job <see cref="JobId"/>'s parameters.</summary>
public sealed record ReadParametersRequest(string JobId);

/// <summary>One block of a parameter as a worker holds it.</summary>
/// <param name="Name">Parameter name.</param>
/// <param name="Stage">Pipeline stage that holds it.</param>
/// <param name="Shape">Shape of the whole parameter.</param>
/// <param name="Offset">Where the block starts in the whole parameter, per dim.</param>
/// <param name="BlockShape">Shape of the block.</param>
/// <param name="Values">The block's values, row-major.</param>
public sealed record ParameterBlock(string Name, int Stage, IReadOnlyList<long> Shape, IReadOnlyList<long> Offset, IReadOnlyList<long> BlockShape, float[] Values);

/// <summary>A worker's parameter blocks of one job.</summary>
public sealed record ParametersReply(string JobId, IReadOnlyList<ParameterBlock> Blocks);
