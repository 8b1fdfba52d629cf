using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Models;
using Alpa.Planner.Training;

namespace Alpa.Tests.Spmd;

/// <summary>Models, meshes and plans shared by the SPMD tests.</summary>
internal static class SpmdFixture
{
    /// <summary>A local cluster of CPU devices with plausible measured rates.</summary>
    public static LogicalMesh Mesh(int n0, int n1) =>
        LogicalMesh.Create(BuiltInClusters.ForLocal(1, n0 * n1, 20e9, 8e9, 1e9, 8L << 30), n0, n1);

    /// <summary>
    /// The model and its Adam training graph. ε = 1e-6: the key bias of attention has an exactly zero
    /// gradient (softmax is shift-invariant), so with ε = 1e-8 Adam turns float rounding noise into
    /// ±lr steps and any two summation orders disagree there by ~1e-3 (the rest agree to ~1e-7).
    /// </summary>
    public static (Graph Model, Graph Training) Build(string name)
    {
        var model = ModelZoo.Get(name).Build();
        var training = TrainingGraph.Build(model, new TrainingOptions { Optimizer = new Adam { Epsilon = 1e-6 } });
        return (model, training);
    }

    /// <summary>Every parameter pinned to <paramref name="spec"/> (by rank), inputs to their batch split.</summary>
    public static Dictionary<string, IReadOnlyList<string>> Pins(Graph training, Func<Node, string[]?> spec)
    {
        var pins = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var n in training.Nodes)
            if (spec(n) is { } s) pins[n.Name] = s;
        return pins;
    }

    /// <summary>Column-parallel first matmuls (qkv, fc1), row-parallel second ones (out, fc2), over axis 1.</summary>
    public static string[]? Megatron(string name) => name switch
    {
        _ when name.EndsWith("qkv.weight", StringComparison.Ordinal) || name.EndsWith("fc1.weight", StringComparison.Ordinal) => ["R", "S1"],
        _ when name.EndsWith("qkv.bias", StringComparison.Ordinal) || name.EndsWith("fc1.bias", StringComparison.Ordinal) => ["S1"],
        _ when name.EndsWith("out.weight", StringComparison.Ordinal) || name.EndsWith("fc2.weight", StringComparison.Ordinal) => ["S1", "R"],
        _ => null,
    };
}
