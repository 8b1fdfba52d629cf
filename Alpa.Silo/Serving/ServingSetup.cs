using Alpa.Planner.Cluster;
using Alpa.Planner.Inference;
using Alpa.Planner.Models;

namespace Alpa.Silo.Serving;

/// <summary>What to serve and where: the model, its weights, the devices and how to cut them into stages.</summary>
public sealed record ServingSetupOptions
{
    public required GptSpec Spec { get; init; }
    /// <summary>Local CPU devices (one host).</summary>
    public int Devices { get; init; } = 1;
    /// <summary>Exact number of stages; null lets the DP choose.</summary>
    public int? Stages { get; init; }
    /// <summary>What the stage DP minimizes.</summary>
    public InferenceObjective Objective { get; init; } = InferenceObjective.Throughput;
    /// <summary>Slots and prefill chunk (its <see cref="GenerationLayout.Stages"/> is filled in by the plan).</summary>
    public GenerationLayout Layout { get; init; } = new();
    public IWeightSource Weights { get; init; } = new RandomWeights();
    /// <summary>Seed of the random initialization.</summary>
    public ulong Seed { get; init; }
}

/// <summary>Plans the stages, builds the <see cref="GenerationModel"/> and loads its weights (the CLI and the bench share this).</summary>
public static class ServingSetup
{
    public static GenerationModel Create(ServingSetupOptions options, ClusterSpec cluster, TextWriter log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cluster);
        ArgumentNullException.ThrowIfNull(log);
        if (options.Devices == 1)   // refuse before loading or training weights
            InferenceMemory.Check(options.Spec, options.Layout.Slots, [new InferenceStage(0, options.Spec.LayerCount - 1, 1, 0)], cluster.Device.MemoryBytes);
        var weights = options.Weights.Load(options.Spec, log, cancellationToken);
        var layout = options.Layout;
        if (options.Devices > 1)
        {
            var plan = InferencePlanner.Plan(options.Spec, cluster with { Hosts = 1, DevicesPerHost = options.Devices }, layout.Slots, options.Objective, options.Stages);
            log.WriteLine($"inference plan ({options.Objective.ToString().ToLowerInvariant()}): {plan.Stages.Count} stage(s), objective {plan.ObjectiveSeconds * 1e3:F3} ms per decode step");
            layout = layout with { Stages = [.. plan.Stages.Select(s => (s.First, s.Last, s.Devices))] };
        }

        var model = new GenerationModel(options.Spec, layout, options.Seed, cluster);
        try
        {
            if (weights is not null) model.Load(weights);
            foreach (var s in model.Stages) log.WriteLine($"  stage: {s.Describe}");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Plans one stage per live silo of the cluster <paramref name="grains"/> reaches, builds the stages on the silos and ships
    /// the weights (the front end of <c>alpa serve --connect</c>).
    /// </summary>
    public static Task<ClusterGenerationModel> CreateOnClusterAsync(ServingSetupOptions options, Client.Transport.IGrainFactory grains,
        Func<CancellationToken, Task<IReadOnlyList<string>>> liveSilos, TextWriter log, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(log);
        var serving = new ClusterServingOptions
        {
            Spec = options.Spec, Slots = options.Layout.Slots, PrefillChunk = options.Layout.PrefillChunk, Objective = options.Objective, Seed = options.Seed,
            Weights = options.Weights.Load(options.Spec, log, cancellationToken),
        };
        return ClusterGenerationModel.CreateAsync(grains, liveSilos, serving, log, cancellationToken);
    }
}
