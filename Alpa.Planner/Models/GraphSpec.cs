namespace Alpa.Planner.Models;

using Alpa.Planner.Graph;

/// <summary>
/// A model given as a whole graph file (<c>{"format":"alpa-graph",…}</c>). Its batch is fixed by
/// the file: <see cref="ModelSpec.Batch"/> is the leading dimension of its first input, and
/// building it for another batch is refused. Layers are those the file marks.
/// </summary>
public sealed record GraphSpec : ModelSpec
{
    /// <summary>The graph read from the file.</summary>
    public required Graph Graph { get; init; }

    public override string Family => "graph";
    public override int LayerCount => Math.Max(1, Graph.Nodes.Max(n => n.Layer) + 1);
    public override string LayerName(int layer) => $"layer {layer}";

    /// <summary>Wraps a graph, taking the batch from its first input (1 when it has none).</summary>
    public static GraphSpec Of(Graph graph, string name)
    {
        var first = graph.Inputs.FirstOrDefault(i => i.Shape.Rank > 0);
        var batch = first is null ? 1 : (int)Math.Max(1, Math.Min(int.MaxValue, first.Shape[0]));
        var dtype = graph.Parameters.Select(p => p.DType).FirstOrDefault(DType.F32);
        return new GraphSpec { Name = name, Batch = batch, DType = dtype, Graph = graph };
    }

    protected override Graph BuildGraph(int batch)
    {
        if (batch != Batch)
            throw SpecError("batch", $"the graph file '{Name}' has a fixed batch of {Batch}; it cannot be rebuilt for {batch}");
        return Graph;
    }
}
