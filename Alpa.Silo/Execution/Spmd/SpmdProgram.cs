using Alpa.Planner;
using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Sharding;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>A plan cannot be executed on this graph or mesh; the message names the node and strategy.</summary>
public sealed class SpmdException : AlpaException
{
    public SpmdException(string message) : base(message) { }
}

/// <summary>How a node's local computation runs on each device.</summary>
internal enum LocalKernel
{
    /// <summary>Parameter, state, input or constant.</summary>
    Leaf,
    /// <summary>Reshape: a view of the local shard with the local output shape.</summary>
    View,
    /// <summary>The single-device kernel on local shapes (<see cref="OpDispatch"/>).</summary>
    Dispatch,
    /// <summary>Embedding with the vocabulary split: rows outside the local range give zeros.</summary>
    VocabEmbedding,
    /// <summary>Embedding gradient with the vocabulary split: each device keeps its rows.</summary>
    VocabEmbeddingGrad,
    /// <summary>Cross-entropy over global rows, vocabulary-parallel when the vocab is split.</summary>
    CrossEntropy,
    /// <summary>Its gradient.</summary>
    CrossEntropyGrad,
    /// <summary>LayerNorm's γ gradient with the normalized dim split: row statistics all-reduced.</summary>
    SplitLayerNormGradGamma,
    /// <summary>Batch norm with the batch split: channel statistics all-reduced over the batch axes.</summary>
    SyncBatchNorm,
    /// <summary>Its input gradient.</summary>
    SyncBatchNormGradInput,
    /// <summary>Its γ gradient (partial sums completed by the strategy's all-reduce).</summary>
    SyncBatchNormGradGamma,
}

/// <summary>How a node's partial results are completed after the local kernel.</summary>
internal enum Completion { None, AllReduceSum, AllReduceMax, ReduceScatter }

/// <summary>The lowered form of one node: its strategy and what each device does.</summary>
internal sealed record NodeProgram
{
    public required Node Node { get; init; }
    public required Strategy Strategy { get; init; }
    public required LocalKernel Kernel { get; init; }
    /// <summary>Specs the local kernel reads; differ from the strategy's inputs only by an expert all-to-all.</summary>
    public required IReadOnlyList<ShardingSpec> KernelInputs { get; init; }
    /// <summary>Spec after the local kernel and its completion; an expert all-to-all turns it into the strategy's output.</summary>
    public required ShardingSpec KernelOutput { get; init; }
    /// <summary>The node built on local shapes (Dispatch only).</summary>
    public Node? Local { get; init; }
    /// <summary>Spec of the local kernel's output, before the completion collective (null: the kernel output spec).</summary>
    public ShardingSpec? Pre { get; init; }
    /// <summary>Per-device output shape before the completion collective.</summary>
    public required long[] LocalShape { get; init; }
    public Completion Completion { get; init; }
    /// <summary>Mesh axes of the partial sums.</summary>
    public int PartialAxes { get; init; }
    /// <summary>Dim a reduce-scatter splits.</summary>
    public int ScatterDim { get; init; }
    /// <summary>Factor applied before the all-reduce (1 / parts for a mean).</summary>
    public double PreScale { get; init; } = 1;
}

/// <summary>
/// SPMD lowering of a graph under an intra-op plan: every node's strategy is recovered from its id by
/// re-enumerating the node's strategies on the mesh (the runtime never chooses one), checked against
/// the plan, and turned into a local kernel on per-device shapes plus the collectives that complete it.
/// Everything is checked before any tensor is allocated.
/// </summary>
internal static class SpmdProgram
{
    public static NodeProgram[] Lower(Graph graph, IntraResult plan)
    {
        var mesh = plan.Mesh;
        var missing = graph.Nodes.Where(n => !plan.NodeStrategies.ContainsKey(n.Name)).Select(n => n.Name).Take(3).ToList();
        if (missing.Count > 0 || plan.NodeStrategies.Count != graph.Nodes.Count)
            throw new SpmdException($"the plan was made for another graph: it has {plan.NodeStrategies.Count} node strategies, the graph {graph.Nodes.Count} nodes" +
                                    (missing.Count > 0 ? $" (no strategy for '{string.Join("', '", missing)}')" : "") + "; re-plan this graph");
        return [.. graph.Nodes.Select(n => LowerNode(n, plan.NodeStrategies[n.Name], mesh))];
    }

    private static NodeProgram LowerNode(Node node, Strategy planned, LogicalMesh mesh)
    {
        var s = Recover(node, planned, mesh);
        s.Output.CheckFits(node.Shape, mesh, node.Name);
        for (var i = 0; i < s.Inputs.Count; i++) s.Inputs[i].CheckFits(node.Inputs[i].Shape, mesh, node.Inputs[i].Name);
        if (s.Collectives.Any(c => c.Kind == CollectiveKind.AllToAll)) return ExpertParallel(node, s, mesh);
        if (node.IsLeaf || node.Op == OpKind.Reshape)
        {
            return new NodeProgram
            {
                Node = node,
                Strategy = s,
                Kernel = node.IsLeaf ? LocalKernel.Leaf : LocalKernel.View,
                KernelInputs = s.Inputs,
                KernelOutput = s.Output,
                LocalShape = ShardLayout.LocalShape(node.Shape, s.Output, mesh),
            };
        }
        if (node.Op is OpKind.CrossEntropy or OpKind.CrossEntropyGrad) return CrossEntropy(node, s, mesh);
        if (node.Op is OpKind.BatchNorm or OpKind.BatchNormGradInput && s.Collectives.Count > 0) return SyncBatchNorm(node, s, mesh);
        return General(node, s, mesh);
    }

    /// <summary>
    /// GShard expert parallelism [GShard §2.2]: the dispatch einsum runs with groups G split and its
    /// [E, G, C, M] result moves the split from G to E by an all-to-all; the combine einsum receives
    /// experts split on E and moves the split back to G before running.
    /// </summary>
    private static NodeProgram ExpertParallel(Node node, Strategy s, LogicalMesh mesh)
    {
        if (node.Op is not (OpKind.MoeDispatch or OpKind.MoeCombine) || s.Collectives.Count(c => c.Kind == CollectiveKind.AllToAll) != 1)
            throw Refuse(node, s, "only a MoE dispatch or combine may issue one all-to-all");
        var rest = s.Collectives.Where(c => c.Kind != CollectiveKind.AllToAll).ToList();
        var egcm = node.Op == OpKind.MoeDispatch ? s.Output : s.Inputs[0];
        if (egcm[0] is not (DimSharding.S0 or DimSharding.S1) || egcm[1] != DimSharding.R)
            throw Refuse(node, s, "its all-to-all must move a single-axis split between the expert and group dims");
        var dims = Enumerable.Range(0, egcm.Rank).Select(d => egcm[d]).ToArray();
        (dims[0], dims[1]) = (DimSharding.R, dims[0]);
        var grouped = ShardingSpec.Create(dims);
        var kernel = node.Op == OpKind.MoeDispatch
            ? s with { Output = grouped, Collectives = rest }
            : s with { Inputs = [grouped, s.Inputs[1]], Collectives = rest };
        var p = General(node, kernel, mesh);
        return p with { Strategy = s, KernelInputs = kernel.Inputs, KernelOutput = kernel.Output };
    }

    /// <summary>The node's strategy with the planned id among its enumerated strategies.</summary>
    private static Strategy Recover(Node node, Strategy planned, LogicalMesh mesh)
    {
        var found = StrategyEnumerator.Enumerate(node, mesh, reduceScatter: true).FirstOrDefault(x => x.Id == planned.Id)
            ?? throw new SpmdException($"node '{node.Name}' ({node.Op}{node.Shape}): strategy '{planned.Id}' is not one of its strategies on mesh ({mesh.N0}, {mesh.N1}); the plan is for another graph or mesh") { Field = node.Name };
        if (!found.Output.Equals(planned.Output) || !found.Inputs.SequenceEqual(planned.Inputs))
            throw new SpmdException($"node '{node.Name}': strategy '{planned.Id}' has other specs in the plan than on this graph; re-plan") { Field = node.Name };
        return found;
    }

    private static NodeProgram General(Node node, Strategy s, LogicalMesh mesh)
    {
        var colls = s.Collectives;
        if (colls.Count > 1 || colls.Any(c => c.Kind is not (CollectiveKind.AllReduce or CollectiveKind.ReduceScatter)))
            throw Refuse(node, s, "the executor completes at most one all-reduce or reduce-scatter per node");
        var pre = s.Output;
        var completion = Completion.None;
        var partial = 0;
        var scatterDim = -1;
        if (colls.Count == 1)
        {
            partial = colls[0].Axes;
            completion = colls[0].Kind == CollectiveKind.AllReduce
                ? node.Op == OpKind.ReduceMax ? Completion.AllReduceMax : Completion.AllReduceSum
                : Completion.ReduceScatter;
            if (completion == Completion.ReduceScatter)
            {
                scatterDim = Enumerable.Range(0, s.Output.Rank).First(d => (ShardingSpec.Mask(s.Output[d]) & partial) == partial);
                pre = Without(s.Output, scatterDim, partial);
            }
        }
        var inAxes = s.Inputs.Aggregate(0, (m, x) => m | x.UsedAxes);
        if ((inAxes & ~pre.UsedAxes) != partial)
            throw Refuse(node, s, $"its inputs are split over axes {inAxes} and its output over {pre.UsedAxes}, which its collectives do not complete");
        var kernel = LocalKernel.Dispatch;
        if (node.Op == OpKind.Embedding && s.Inputs[0][0] != DimSharding.R) kernel = LocalKernel.VocabEmbedding;
        if (node.Op == OpKind.EmbeddingGrad && pre[0] != DimSharding.R) kernel = LocalKernel.VocabEmbeddingGrad;
        if (node.Op == OpKind.LayerNormGradGamma && s.Inputs[0][s.Inputs[0].Rank - 1] != DimSharding.R) kernel = LocalKernel.SplitLayerNormGradGamma;
        if (node.Op == OpKind.BatchNormGradGamma && ShardingSpec.Mask(s.Inputs[0][0]) != 0) kernel = LocalKernel.SyncBatchNormGradGamma;
        if (node.Op == OpKind.ReduceMax && completion == Completion.ReduceScatter)
            throw Refuse(node, s, "a max cannot be reduce-scattered");
        var localShape = ShardLayout.LocalShape(node.Shape, pre, mesh);
        return new NodeProgram
        {
            Node = node,
            Strategy = s,
            Kernel = kernel,
            KernelInputs = s.Inputs,
            KernelOutput = s.Output,
            Local = kernel == LocalKernel.Dispatch ? LocalNode(node, s, mesh, localShape) : null,
            LocalShape = localShape,
            Pre = pre,
            Completion = completion,
            PartialAxes = partial,
            ScatterDim = scatterDim,
            PreScale = node.Op == OpKind.ReduceMean && partial != 0 ? 1.0 / ShardingSpec.AxesProduct(partial, mesh) : 1,
        };
    }

    /// <summary>Batch norm with the batch split: its one all-reduce is the statistics synchronization.</summary>
    private static NodeProgram SyncBatchNorm(Node node, Strategy s, LogicalMesh mesh)
    {
        var batchAxes = ShardingSpec.Mask(s.Inputs[0][0]);
        if (batchAxes == 0 || s.Collectives.Count != 1 || s.Collectives[0].Kind != CollectiveKind.AllReduce || s.Collectives[0].Axes != batchAxes)
            throw Refuse(node, s, "a batch norm's only collective must be the statistics all-reduce over its batch axes");
        return new NodeProgram
        {
            Node = node,
            Strategy = s,
            Kernel = node.Op == OpKind.BatchNorm ? LocalKernel.SyncBatchNorm : LocalKernel.SyncBatchNormGradInput,
            KernelInputs = s.Inputs,
            KernelOutput = s.Output,
            LocalShape = ShardLayout.LocalShape(node.Shape, s.Output, mesh),
        };
    }

    /// <summary>Cross-entropy reads its splits off the logits spec; the collectives are issued by the kernel.</summary>
    private static NodeProgram CrossEntropy(Node node, Strategy s, LogicalMesh mesh)
    {
        var logits = s.Inputs[0];
        for (var d = 0; d < logits.Rank - 1; d++)
            if (s.Inputs[1][d] != logits[d])
                throw Refuse(node, s, "labels must be split like the logits' leading dims");
        return new NodeProgram
        {
            Node = node,
            Strategy = s,
            Kernel = node.Op == OpKind.CrossEntropy ? LocalKernel.CrossEntropy : LocalKernel.CrossEntropyGrad,
            KernelInputs = s.Inputs,
            KernelOutput = s.Output,
            LocalShape = ShardLayout.LocalShape(node.Shape, s.Output, mesh),
        };
    }

    /// <summary>The node rebuilt on per-device shapes, shape-checked by the graph builder.</summary>
    private static Node LocalNode(Node node, Strategy s, LogicalMesh mesh, long[] localShape)
    {
        var b = new GraphBuilder();
        var inputs = new Node[node.Inputs.Count];
        for (var i = 0; i < inputs.Length; i++)
        {
            var x = node.Inputs[i];
            inputs[i] = b.Leaf(OpKind.Input, $"in{i}", new Shape(ShardLayout.LocalShape(x.Shape, s.Inputs[i], mesh)), x.DType);
        }
        var attrs = node.Attrs.Shape is not null ? node.Attrs with { Shape = localShape } : node.Attrs;
        Node local;
        try
        {
            local = b.Op(node.Op, inputs, attrs, node.Name);
        }
        catch (ShapeException e)
        {
            throw Refuse(node, s, $"its local shapes do not form a valid op ({e.Message})");
        }
        if (!local.Shape.AsSpan().SequenceEqual(localShape))
            throw Refuse(node, s, $"the local op gives {local.Shape}, the spec needs [{string.Join(", ", localShape)}]");
        return local;
    }

    private static ShardingSpec Without(ShardingSpec spec, int dim, int axes)
    {
        var dims = Enumerable.Range(0, spec.Rank).Select(d => spec[d]).ToArray();
        dims[dim] = ShardingSpec.FromMask(ShardingSpec.Mask(dims[dim]) & ~axes);
        return ShardingSpec.Create(dims);
    }

    private static SpmdException Refuse(Node node, Strategy s, string why) =>
        new($"node '{node.Name}' ({node.Op}{node.Shape}): strategy '{s.Id}' cannot be executed: {why}") { Field = node.Name };
}
