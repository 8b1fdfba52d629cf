using Alpa.Planner.Graph;
using Alpa.Planner.Models;
using Alpa.Planner.Training;

namespace Alpa.Planner.Baselines;

/// <summary>One weak-scaling point of the paper's end-to-end evaluation: a model size on its GPU count.</summary>
/// <param name="Family">gpt, moe or wresnet.</param>
/// <param name="Model">Built-in model name.</param>
/// <param name="Gpus">GPUs it runs on (paper Tables 4, 6–8).</param>
public sealed record PaperCase(string Family, string Model, int Gpus);

/// <summary>
/// The paper's end-to-end benchmark (§8.1, Figure 7): every size of each family on its GPU count,
/// with the family's hand-designed baseline (Megatron-LM for GPT, DeepSpeed for MoE, PP-DP for
/// Wide-ResNet). Facts embedded from the paper's Tables 4, 6–8.
/// </summary>
public static class PaperSuite
{
    public static IReadOnlyList<string> Families { get; } = ["gpt", "moe", "wresnet"];

    public static IReadOnlyList<PaperCase> Cases { get; } =
    [
        new("gpt", "gpt-350m", 1), new("gpt", "gpt-760m", 2), new("gpt", "gpt-1.3b", 4), new("gpt", "gpt-2.6b", 8),
        new("gpt", "gpt-6.7b", 16), new("gpt", "gpt-15b", 32), new("gpt", "gpt-39b", 64),
        new("moe", "moe-380m", 1), new("moe", "moe-690m", 2), new("moe", "moe-1.3b", 4), new("moe", "moe-2.4b", 8),
        new("moe", "moe-10b", 16), new("moe", "moe-27b", 32), new("moe", "moe-70b", 64),
        new("wresnet", "wresnet-250m", 1), new("wresnet", "wresnet-500m", 2), new("wresnet", "wresnet-1b", 4),
        new("wresnet", "wresnet-2b", 8), new("wresnet", "wresnet-4b", 16), new("wresnet", "wresnet-6.8b", 32),
        new("wresnet", "wresnet-13b", 64),
    ];

    /// <summary>The hand-designed baseline the paper compares each family with.</summary>
    public static BaselineMethod Baseline(string family) => family switch
    {
        "gpt" => BaselineMethod.Megatron,
        "moe" => BaselineMethod.DeepSpeed,
        _ => BaselineMethod.PpDp,
    };

    /// <summary>Hosts × devices per host of a GPU count on 8-GPU hosts (the paper's p3.16xlarge; DGX H100 alike).</summary>
    public static (int Hosts, int DevicesPerHost) Shape(int gpus, int perHost = 8) =>
        gpus <= perHost ? (1, gpus) : (gpus / perHost, perHost);

    /// <summary>
    /// FLOPs of one training step counted once for every method: forward and backward of the model
    /// at the global batch, without recomputation (a plan that recomputes does more work but is
    /// credited the same), so throughput ranks plans exactly as step time does.
    /// </summary>
    public static double ModelFlopsPerStep(ModelSpec model, TrainingOptions? training = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        var graph = TrainingGraph.Build(model.Build(), (training ?? new TrainingOptions()) with { Remat = false });
        return graph.Nodes.Where(n => !n.IsLeaf && n.Phase is Phase.Forward or Phase.Backward).Sum(n => n.Flops);
    }
}
