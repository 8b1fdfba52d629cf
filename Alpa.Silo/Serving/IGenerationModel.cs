using Alpa.Planner.Models;

namespace Alpa.Silo.Serving;

/// <summary>
/// What the <see cref="GenerationEngine"/> drives: a GPT whose forward stages keep per-slot key/value
/// caches. Two implementations: stages in this process (<see cref="GenerationModel"/>) and stages on the
/// silos of a cluster (<see cref="ClusterGenerationModel"/>). Touched only by the engine's loop thread.
/// </summary>
public interface IGenerationModel : IDisposable
{
    GptSpec Spec { get; }
    /// <summary>Batch slots of every program.</summary>
    int Slots { get; }
    /// <summary>Prefill chunk T.</summary>
    int Chunk { get; }
    /// <summary>Longest sequence (prompt + generated) a slot holds.</summary>
    int Context { get; }
    /// <summary>One line per stage: layers, devices (and silo), how tensors are split.</summary>
    IReadOnlyList<string> StageDescriptions { get; }

    /// <summary>
    /// Runs one step: each work item writes its tokens into its slot's cache; returns, per item, the logits [V]
    /// after its last token. Throws <see cref="StageFailedException"/> when a stage's silo failed: every
    /// slot's cache is then lost, and <see cref="Recover"/> must run before the next step.
    /// </summary>
    float[][] Step(IReadOnlyList<SlotWork> work);

    /// <summary>After <see cref="StageFailedException"/>: re-plans on what is left, with empty caches; throws <see cref="ServingException"/> when nothing can serve.</summary>
    void Recover(StageFailedException failure, CancellationToken cancellationToken);
}

/// <summary>A stage of the model failed (its silo died or stopped answering); in-flight requests are lost, the server can re-plan.</summary>
public sealed class StageFailedException(string message, IReadOnlyList<string> suspects, Exception? inner = null)
    : Planner.AlpaException(message, inner ?? new InvalidOperationException(message))
{
    /// <summary>Silo addresses that failed or are suspected to.</summary>
    public IReadOnlyList<string> Suspects { get; } = suspects;
}
