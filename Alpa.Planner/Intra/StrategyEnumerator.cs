using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Intra;

/// <summary>
/// Enumerates every parallel algorithm of a node on a logical mesh [Alpa §4.1]: each mesh axis (of
/// size &gt; 1) is mapped onto one loop label of the op's einsum view or left unused; both axes on
/// one label give an <c>S01</c> split. Choices that do not divide a dimension are left out.
/// </summary>
public static class StrategyEnumerator
{
    /// <summary>
    /// The strategies of <paramref name="node"/>, replicated first. With
    /// <paramref name="reduceScatter"/>, partial sums may also be reduce-scattered onto an output dim
    /// (used for gradients, so that weight-update sharding is in the space).
    /// </summary>
    public static List<Strategy> Enumerate(Node node, LogicalMesh mesh, bool reduceScatter = false)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(mesh);
        if (node.IsLeaf) return Leaf(node, mesh);
        if (node.Op == OpKind.Reshape) return Reshape(node, mesh);
        var space = LoopSpace.For(node)!;
        var result = new List<Strategy>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var mask in Assignments(space, mesh))
            FromAssignment(node, mesh, space, mask, reduceScatter, result, seen);
        if (node.Op is OpKind.MoeDispatch or OpKind.MoeCombine) MoeAllToAll.AddVariants(node, mesh, result, seen);
        return result;
    }

    /// <summary>Leaves: every spec that divides the tensor.</summary>
    private static List<Strategy> Leaf(Node node, LogicalMesh mesh) =>
    [
        .. ShardingSpec.All(node.Shape, mesh).Select(spec => new Strategy
        {
            Id = spec.ToString(),
            Output = spec,
            Inputs = [],
            ComputeSeconds = 0,
            MemoryBytes = spec.ShardBytes(node.OutputBytes, mesh),
        }),
    ];

    /// <summary>Every mapping of the usable mesh axes to labels, as a per-label axis mask.</summary>
    private static IEnumerable<int[]> Assignments(LoopSpace space, LogicalMesh mesh)
    {
        var choices0 = mesh.N0 > 1 ? space.Count + 1 : 1;
        var choices1 = mesh.N1 > 1 ? space.Count + 1 : 1;
        for (var a0 = 0; a0 < choices0; a0++)
        {
            for (var a1 = 0; a1 < choices1; a1++)
            {
                var mask = new int[space.Count];
                if (a0 > 0) mask[a0 - 1] |= 1;
                if (a1 > 0) mask[a1 - 1] |= 2;
                var ok = true;
                for (var l = 0; l < space.Count && ok; l++)
                {
                    if (mask[l] == 0) continue;
                    ok = !space.IsFixed(l) && space.Size(l) % ShardingSpec.AxesProduct(mask[l], mesh) == 0;
                }
                if (ok) yield return mask;
            }
        }
    }

    private static void FromAssignment(Node node, LogicalMesh mesh, LoopSpace space, int[] mask,
        bool reduceScatter, List<Strategy> result, HashSet<string> seen)
    {
        ShardingSpec SpecOf(int[] dims) =>
            ShardingSpec.FromOwned([.. dims.Select(l => l < 0 ? DimSharding.R : ShardingSpec.FromMask(mask[l]))]);
        var inputs = space.Inputs.Select(SpecOf).ToArray();
        var output = SpecOf(space.Output);
        var partial = 0;
        var split = 1.0;
        for (var l = 0; l < space.Count; l++)
        {
            if (mask[l] == 0) continue;
            if (space.Contracted(l)) partial |= mask[l];
            if (space.InInputs(l)) split *= ShardingSpec.AxesProduct(mask[l], mesh);
        }
        var bytes = output.ShardBytes(node.OutputBytes, mesh);
        for (var i = 0; i < inputs.Length; i++) bytes += inputs[i].ShardBytes(node.Inputs[i].OutputBytes, mesh);
        var compute = ComputeModel.Seconds(node, mesh, split, bytes, output.ShardBytes(node.OutputBytes, mesh));
        var colls = new List<Collective>();
        if (space.Extra is not null)
            foreach (var (kind, axes, b) in space.Extra(mask, mesh)) colls.Add(Collectives.Make(mesh, kind, axes, b));
        var outBytes = output.ShardBytes(node.OutputBytes, mesh);
        if (partial == 0)
        {
            Add(node, mesh, inputs, output, compute, colls, result, seen);
            return;
        }
        Add(node, mesh, inputs, output, compute, [.. colls, Collectives.Make(mesh, CollectiveKind.AllReduce, partial, outBytes)], result, seen);
        if (!reduceScatter) return;
        for (var d = 0; d < output.Rank; d++)
        {
            var existing = ShardingSpec.Mask(output[d]);
            if (existing == 3 || (existing == 2 && partial == 1) || (existing & partial) != 0 || partial == 3 && existing != 0) continue;
            var merged = existing | partial;
            if (node.Shape[d] % ShardingSpec.AxesProduct(merged, mesh) != 0) continue;
            var dims = output.ToArray();
            dims[d] = ShardingSpec.FromMask(merged);
            Add(node, mesh, inputs, ShardingSpec.FromOwned(dims), compute,
                [.. colls, Collectives.Make(mesh, CollectiveKind.ReduceScatter, partial, outBytes)], result, seen);
        }
    }

    internal static void Add(Node node, LogicalMesh mesh, ShardingSpec[] inputs, ShardingSpec output, double compute,
        List<Collective> colls, List<Strategy> result, HashSet<string> seen)
    {
        var id = MakeId(inputs, output, colls);
        if (!seen.Add(id)) return;
        result.Add(new Strategy
        {
            Id = id,
            Inputs = inputs,
            Output = output,
            ComputeSeconds = compute,
            Collectives = colls,
            MemoryBytes = output.ShardBytes(node.OutputBytes, mesh),
        });
    }

    internal static string MakeId(IEnumerable<ShardingSpec> inputs, ShardingSpec output, IReadOnlyList<Collective> colls) =>
        string.Join(",", inputs) + "→" + output + (colls.Count == 0 ? "" : "|" + string.Join("+", colls));

    /// <summary>
    /// Reshape keeps a split when the split dim is the major dim of a group of merged or split dims
    /// and still divides the corresponding output dim; other input specs have no strategy (the edge
    /// then reshards).
    /// </summary>
    private static List<Strategy> Reshape(Node node, LogicalMesh mesh)
    {
        var inShape = node.Inputs[0].Shape;
        var groups = ReshapeGroups(inShape, node.Shape);
        var result = new List<Strategy>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var spec in ShardingSpec.All(inShape, mesh))
        {
            var outDims = new DimSharding[node.Shape.Rank];
            var ok = true;
            for (var d = 0; d < inShape.Rank && ok; d++)
            {
                if (spec[d] == DimSharding.R) continue;
                var g = groups.FindIndex(x => x.In.Contains(d));
                ok = g >= 0 && groups[g].In[0] == d && groups[g].Out.Length > 0
                     && node.Shape[groups[g].Out[0]] % spec.Partitions(d, mesh) == 0;
                if (ok) outDims[groups[g].Out[0]] = spec[d];
            }
            if (!ok) continue;
            Add(node, mesh, [spec], ShardingSpec.FromOwned(outDims), ComputeModel.Seconds(node, mesh, 1, 0), [], result, seen);
        }
        return result;
    }

    /// <summary>Groups of input dims and output dims with equal products (dims of size 1 left out).</summary>
    private static List<(int[] In, int[] Out)> ReshapeGroups(Shape a, Shape b)
    {
        var groups = new List<(int[] In, int[] Out)>();
        int i = 0, j = 0;
        while (true)
        {
            while (i < a.Rank && a[i] == 1) i++;
            while (j < b.Rank && b[j] == 1) j++;
            if (i >= a.Rank || j >= b.Rank) break;
            var ins = new List<int> { i };
            var outs = new List<int> { j };
            long pa = a[i++], pb = b[j++];
            while (pa != pb)
            {
                if (pa < pb && i < a.Rank) { pa *= a[i]; ins.Add(i++); }
                else if (pb < pa && j < b.Rank) { pb *= b[j]; outs.Add(j++); }
                else return groups;
            }
            groups.Add(([.. ins], [.. outs]));
        }
        return groups;
    }
}
