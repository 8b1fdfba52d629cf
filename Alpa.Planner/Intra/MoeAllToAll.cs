using Alpa.Planner.Cluster;
using Alpa.Planner.Graph;
using Alpa.Planner.Sharding;

namespace Alpa.Planner.Intra;

/// <summary>
/// Expert parallelism for GShard MoE [GShard §2.2]: tokens split by group G on a mesh axis are
/// dispatched to experts split by E on the same axis with an all-to-all after the dispatch einsum,
/// and return with an all-to-all before the combine einsum.
/// </summary>
internal static class MoeAllToAll
{
    public static void AddVariants(Node node, LogicalMesh mesh, List<Strategy> result, HashSet<string> seen)
    {
        foreach (var st in result.ToArray())
        {
            // Dispatch output and combine's first input are [E, G, C, M].
            var egcm = node.Op == OpKind.MoeDispatch ? st.Output : st.Inputs[0];
            var g = ShardingSpec.Mask(egcm[1]);
            if (egcm[0] != DimSharding.R || g is not (1 or 2)) continue;
            var dims = egcm.ToArray();
            dims[0] = egcm[1];
            dims[1] = DimSharding.R;
            var moved = ShardingSpec.FromOwned(dims);
            var full = node.Op == OpKind.MoeDispatch ? node.OutputBytes : node.Inputs[0].OutputBytes;
            var bytes = full / ShardingSpec.AxesProduct(egcm.UsedAxes & ~g, mesh);
            var colls = new List<Collective>(st.Collectives) { Collectives.Make(mesh, CollectiveKind.AllToAll, g, bytes) };
            if (node.Op == OpKind.MoeDispatch)
                StrategyEnumerator.Add(node, mesh, [.. st.Inputs], moved, st.ComputeSeconds, colls, result, seen);
            else
                StrategyEnumerator.Add(node, mesh, [moved, st.Inputs[1]], st.Output, st.ComputeSeconds, colls, result, seen);
        }
    }
}
