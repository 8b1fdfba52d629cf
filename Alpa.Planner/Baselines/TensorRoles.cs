using Alpa.Planner.Graph;
using Alpa.Planner.Models;
using Alpa.Planner.Training;

namespace Alpa.Planner.Baselines;

/// <summary>
/// Which dimension of each tensor of a model's training graph is its batch dimension and which is
/// its expert dimension (MoE), found by building the graph twice and seeing which dimension doubles
/// when the batch (or the number of experts) doubles. Node names are the same at every size, so the
/// roles apply to the training graph of any microbatch and to its per-layer subgraphs.
/// </summary>
public sealed class TensorRoles
{
    private readonly IReadOnlyDictionary<string, int> _batch;
    private readonly IReadOnlyDictionary<string, int> _expert;

    private TensorRoles(IReadOnlyDictionary<string, int> batch, IReadOnlyDictionary<string, int> expert)
    {
        _batch = batch;
        _expert = expert;
    }

    /// <summary>The batch dimension of tensor <paramref name="name"/>, or −1 (weights, their gradients, optimizer state).</summary>
    public int BatchDim(string name) => _batch.GetValueOrDefault(name, -1);

    /// <summary>The expert dimension of tensor <paramref name="name"/>, or −1 (not an MoE tensor).</summary>
    public int ExpertDim(string name) => _expert.GetValueOrDefault(name, -1);

    /// <summary>Tensors with a batch dimension.</summary>
    public int BatchTensors => _batch.Count;

    /// <summary>Finds the roles of every tensor of <paramref name="model"/>'s training graph built with <paramref name="training"/>.</summary>
    public static TensorRoles Detect(ModelSpec model, TrainingOptions training)
    {
        ArgumentNullException.ThrowIfNull(model);
        var (small, large) = model.Batch % 2 == 0 ? (model.Batch / 2, model.Batch) : (model.Batch, 2 * model.Batch);
        var baseGraph = TrainingGraph.Build(model.Build(small), training);
        var batch = Doubled(baseGraph, TrainingGraph.Build(model.Build(large), training));
        var expert = model is MoeSpec moe
            ? Doubled(baseGraph, TrainingGraph.Build((moe with { Experts = 2 * moe.Experts }).Build(small), training))
            : new Dictionary<string, int>();
        return new TensorRoles(batch, expert);
    }

    /// <summary>Name → first dimension whose size doubles from <paramref name="a"/> to <paramref name="b"/>.</summary>
    private static Dictionary<string, int> Doubled(Graph.Graph a, Graph.Graph b)
    {
        var other = new Dictionary<string, Shape>(StringComparer.Ordinal);
        foreach (var n in b.Nodes) other.TryAdd(n.Name, n.Shape);
        var result = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in a.Nodes)
        {
            if (!other.TryGetValue(n.Name, out var shape) || shape.Rank != n.Shape.Rank) continue;
            for (var d = 0; d < n.Shape.Rank; d++)
            {
                if (shape[d] != 2 * n.Shape[d]) continue;
                result[n.Name] = d;
                break;
            }
        }
        return result;
    }
}
