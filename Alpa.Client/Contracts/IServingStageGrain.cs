using Alpa.Planner.Models;

namespace Alpa.Client.Contracts;

/// <summary>
/// One per silo (key: the silo address): holds the forward stages of the serving jobs placed on this
/// silo — a stage's prefill and decode programs over its layers, its weights and its key/value caches,
/// which stay on the silo between steps. The front end (<c>alpa serve --connect</c>) calls every stage
/// of a job with the same <see cref="ServingStepRequest"/> each step: stage s &gt; 0 receives its hidden
/// state from stage s − 1 over the data plane, and the last stage answers with the logits the front end
/// samples from. A silo dying fails the step on the stages that wait for it, naming it.
/// </summary>
[GrainPlacement(GrainPlacement.SiloKeyed)]
[ReentrantGrain]
public interface IServingStageGrain : IGrain
{
    /// <summary>Builds (or rebuilds) a stage of a job; answers the devices and the KV-cache bytes it allocated.</summary>
    Task<ServingStageInfo> LoadStageAsync(ServingStageLoad request, CancellationToken cancellationToken = default);

    /// <summary>Overwrites parameters of a loaded stage (trained weights); names the stage does not hold are ignored.</summary>
    Task LoadWeightsAsync(ServingWeights request, CancellationToken cancellationToken = default);

    /// <summary>Runs one prefill or decode step of a loaded stage.</summary>
    Task<ServingStepReply> StepAsync(ServingStepRequest request, CancellationToken cancellationToken = default);

    /// <summary>Frees a job's stage (programs, weights, caches).</summary>
    Task ReleaseStageAsync(ServingStageRelease request, CancellationToken cancellationToken = default);
}

/// <summary>A forward stage to build on the silo that receives it.</summary>
/// <param name="JobId">The serving job (a re-plan is a new job).</param>
/// <param name="Stage">Index of this stage; the silo must be <c>SiloOfStage[Stage]</c>.</param>
/// <param name="SiloOfStage">Silo address of every stage of the job, in order.</param>
/// <param name="Spec">The GPT served.</param>
/// <param name="FirstLayer">First model layer of the stage (0 = embeddings).</param>
/// <param name="LastLayer">Last model layer, inclusive (<c>Layers + 1</c> = the head).</param>
/// <param name="Slots">Batch slots of every program (sequences decoded together).</param>
/// <param name="Chunk">Prompt tokens per slot in a prefill step.</param>
/// <param name="Seed">Seed of the random initialization (kept where no weights are shipped).</param>
/// <param name="Tag">Data-plane tag of the job's hidden-state transfers (1 … 65534).</param>
public sealed record ServingStageLoad(string JobId, int Stage, IReadOnlyList<string> SiloOfStage, GptSpec Spec, int FirstLayer, int LastLayer,
                                      int Slots, int Chunk, ulong Seed, int Tag);

/// <summary>What a silo built for a stage.</summary>
/// <param name="Silo">The silo's address.</param>
/// <param name="Devices">CPU devices the stage runs on (all of the silo's).</param>
/// <param name="KvCacheBytesPerDevice">Bytes of key/value cache allocated on the device holding the most.</param>
/// <param name="Describe">One line: layers, devices, how tensors are split.</param>
public sealed record ServingStageInfo(string Silo, int Devices, long KvCacheBytesPerDevice, string Describe);

/// <summary>Parameters for a loaded stage: each a whole tensor, f32 little-endian.</summary>
public sealed record ServingWeights(string JobId, IReadOnlyList<ServingTensor> Tensors);

/// <summary>A named f32 tensor in a grain message (little-endian bytes; the data plane carries activations instead).</summary>
public sealed record ServingTensor(string Name, long[] Shape, byte[] Data);

/// <summary>Tokens one batch slot feeds in a step: <see cref="Tokens"/> go to positions Start, Start + 1, ….</summary>
public sealed record ServingSlotWork(int Slot, int Start, int[] Tokens);

/// <summary>Step <see cref="Step"/> (0, 1, … per job) of a job, identical for every stage.</summary>
/// <param name="Prefill">True: the prefill program (T = chunk), else decode (T = 1).</param>
/// <param name="Work">The busy slots' tokens; every stage builds the same positions, masks and cache writes from it.</param>
public sealed record ServingStepRequest(string JobId, long Step, bool Prefill, IReadOnlyList<ServingSlotWork> Work);

/// <summary>
/// A stage's answer: for the last stage, per work item the logits [vocab] after its last token
/// (work count × vocab f32, little-endian), else null; and the seconds the stage spent.
/// </summary>
public sealed record ServingStepReply(string JobId, long Step, byte[]? Logits, double Seconds);

public sealed record ServingStageRelease(string JobId);
