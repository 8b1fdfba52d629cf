namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// A model the planner can build: its family's size fields plus the global batch and the compute
/// dtype. <see cref="Build"/> returns the forward graph with <see cref="Graph.Loss"/> set and
/// every node's <see cref="Node.Layer"/> marked. Layer conventions per family are documented on
/// each spec (and in docs/models.md): layer 0 is what comes before the first block (embeddings, stem),
/// the last layer holds the head and the loss.
/// </summary>
public abstract record ModelSpec
{
    /// <summary>Name shown in reports: the built-in name or the file's <c>name</c> field.</summary>
    public required string Name { get; init; }

    /// <summary>Global batch: samples per training step (sequences for language models, images for Wide-ResNet).</summary>
    public required int Batch { get; init; }

    /// <summary>Compute dtype: parameters and activations are built in it (the loss is always f32).</summary>
    public DType DType { get; init; } = DType.F32;

    /// <summary>The family name used in model files: <c>gpt</c>, <c>moe</c>, <c>wresnet</c>, <c>mlp</c>, <c>graph</c>.</summary>
    public abstract string Family { get; }

    /// <summary>Number of layers the built graph marks (indices 0 … LayerCount − 1).</summary>
    public abstract int LayerCount { get; }

    /// <summary>A short human name of a layer index (<c>embed</c>, <c>block 3</c>, <c>head</c>).</summary>
    public abstract string LayerName(int layer);

    /// <summary>
    /// Builds the forward graph for <paramref name="batchOverride"/> samples (the global batch when
    /// null). The planner builds microbatch graphs this way.
    /// </summary>
    public Graph Build(int? batchOverride = null)
    {
        Validate();
        var batch = batchOverride ?? Batch;
        if (batch <= 0) throw SpecError("batch", $"expected a positive integer, got {batch}");
        return BuildGraph(batch);
    }

    /// <summary>Checks every field; throws <see cref="ModelSpecException"/> naming the first bad one.</summary>
    public virtual void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name)) throw SpecError("name", "expected a non-empty string");
        Positive(Batch, "batch");
        if (!DType.IsFloat()) throw SpecError("dtype", $"expected a float dtype (f32, f16, bf16), got {DType.ToJsonName()}");
    }

    protected abstract Graph BuildGraph(int batch);

    protected static void Positive(long value, string field)
    {
        if (value <= 0) throw SpecError(field, $"expected a positive integer, got {value}");
    }

    protected static ModelSpecException SpecError(string field, string what) => new($"{field}: {what}") { Field = field };
}
