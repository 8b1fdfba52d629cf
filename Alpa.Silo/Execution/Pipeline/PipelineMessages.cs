using System.Text.Json.Serialization;
using Alpa.Kernels;
using Alpa.Planner.Pipeline;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>What a timed event of a worker did.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PipelineEventKind>))]
public enum PipelineEventKind
{
    /// <summary>RUN of a stage's forward on one microbatch.</summary>
    [JsonStringEnumMemberName("forward")] Forward,
    /// <summary>RUN of a stage's backward on one microbatch (gradients accumulated).</summary>
    [JsonStringEnumMemberName("backward")] Backward,
    /// <summary>SEND of a boundary buffer to another stage mesh.</summary>
    [JsonStringEnumMemberName("send")] Send,
    /// <summary>RECV of a boundary buffer, including the wait for it.</summary>
    [JsonStringEnumMemberName("recv")] Recv,
    /// <summary>A per-step collective (data-parallel gradient reduction).</summary>
    [JsonStringEnumMemberName("collective")] Collective,
    /// <summary>The optimizer update.</summary>
    [JsonStringEnumMemberName("update")] Update,
    /// <summary>FREE of buffers.</summary>
    [JsonStringEnumMemberName("free")] Free,
}

/// <summary>One executed instruction: the shape a Gantt chart is drawn from.</summary>
/// <param name="Worker">Mesh worker index.</param>
/// <param name="Stage">Stage the worker runs.</param>
/// <param name="Kind">What the instruction did.</param>
/// <param name="Microbatch">Microbatch of the instruction (−1 for per-step instructions).</param>
/// <param name="StartSeconds">Start, seconds from the moment the driver started the step.</param>
/// <param name="EndSeconds">End, seconds from the same origin.</param>
public sealed record PipelineEvent(int Worker, int Stage, PipelineEventKind Kind, int Microbatch, double StartSeconds, double EndSeconds);

/// <summary>Installs a worker's instruction list (shipped once per job; the shape of <c>LoadProgramRequest</c>).</summary>
public sealed record WorkerLoad(string JobId, int WorkerIndex, WorkerProgram Program);

/// <summary>The one message per worker and step (the shape of <c>StepRequest</c>).</summary>
/// <param name="Microbatches">The step's microbatches (each worker reads the inputs its stage needs).</param>
/// <param name="StartTimestamp">Stopwatch timestamp at which the driver started the step (origin of event times).</param>
public sealed record WorkerStep(string JobId, long Step, IReadOnlyList<IReadOnlyDictionary<string, HostTensor>> Microbatches,
                                float LearningRate, long StartTimestamp);

/// <summary>A worker's share of a step's results (the shape of <c>StepReply</c>).</summary>
/// <param name="Loss">Mean loss over the microbatches on the last stage; null on the others.</param>
/// <param name="Seconds">Time from receiving the step to finishing its list.</param>
/// <param name="WaitSeconds">Time from the driver starting the step until the worker began its list.</param>
/// <param name="PeakMemoryBytes">Largest live bytes of one device of the mesh during the step.</param>
/// <param name="PeakLiveMicrobatches">Most microbatch stashes held at once.</param>
public sealed record WorkerStepResult(int Worker, long Step, float? Loss, double Seconds, double WaitSeconds,
                                      long PeakMemoryBytes, int PeakLiveMicrobatches, IReadOnlyList<PipelineEvent> Events);

/// <summary>A mesh worker of a job, behind the shape of <c>IMeshWorkerGrain</c> so it can be hosted as a grain.</summary>
public interface IMeshWorker : IDisposable
{
    Task LoadProgramAsync(WorkerLoad load, CancellationToken cancellationToken = default);
    Task<WorkerStepResult> RunStepAsync(WorkerStep step, CancellationToken cancellationToken = default);
    Task ReleaseJobAsync(string jobId, CancellationToken cancellationToken = default);
}
