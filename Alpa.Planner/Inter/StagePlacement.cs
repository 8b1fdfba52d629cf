namespace Alpa.Planner.Inter;

/// <summary>
/// Places the stages' submeshes on the cluster so that they tile it [Alpa §5.2]: (n, M) submeshes take
/// whole hosts, (1, 2^k) submeshes are packed inside hosts at aligned offsets. Placing the largest
/// first (ties in stage order) always succeeds when the sizes are powers of two up to M, multiples
/// of M beyond, and sum to N·M: a host's free space stays a union of aligned blocks no smaller than
/// the next request.
/// </summary>
public static class StagePlacement
{
    /// <summary>Global device ids (host · M + local index) of each stage, in row-major submesh order.</summary>
    public static int[][] Place(IReadOnlyList<SubmeshShape> stages, int hosts, int devicesPerHost)
    {
        var total = stages.Sum(s => s.Count);
        if (total != hosts * devicesPerHost)
            throw new InterOpException($"the stages use {total} devices but the cluster has {hosts * devicesPerHost}; a plan must use every device") { Field = "stages" };
        var used = new bool[hosts, devicesPerHost];
        var result = new int[stages.Count][];
        var order = Enumerable.Range(0, stages.Count).OrderByDescending(i => stages[i].Count).ThenBy(i => i);
        foreach (var i in order)
        {
            var s = stages[i];
            result[i] = s.Hosts > 1 || s.Devices == devicesPerHost
                ? TakeHosts(used, s, devicesPerHost)
                : TakeBlock(used, s.Devices, devicesPerHost);
        }
        return result;
    }

    private static int[] TakeHosts(bool[,] used, SubmeshShape s, int m)
    {
        if (s.Devices != m) throw Unplaceable(s, "a multi-host submesh must take whole hosts");
        var free = Enumerable.Range(0, used.GetLength(0)).Where(h => Enumerable.Range(0, m).All(d => !used[h, d])).Take(s.Hosts).ToArray();
        if (free.Length < s.Hosts) throw Unplaceable(s, "not enough free hosts");
        var ids = new List<int>(s.Count);
        foreach (var h in free)
            for (var d = 0; d < m; d++) { used[h, d] = true; ids.Add(h * m + d); }
        return [.. ids];
    }

    private static int[] TakeBlock(bool[,] used, int size, int m)
    {
        if (size < 1 || m % size != 0) throw Unplaceable(new SubmeshShape(1, size), $"a submesh inside a host must divide {m} devices");
        for (var h = 0; h < used.GetLength(0); h++)
            for (var start = 0; start < m; start += size)
            {
                var free = true;
                for (var d = start; d < start + size && free; d++) free = !used[h, d];
                if (!free) continue;
                var ids = new int[size];
                for (var d = 0; d < size; d++) { used[h, start + d] = true; ids[d] = h * m + start + d; }
                return ids;
            }
        throw Unplaceable(new SubmeshShape(1, size), "no aligned free block is left");
    }

    private static InterOpException Unplaceable(SubmeshShape s, string why) =>
        new($"cannot place submesh {s}: {why}") { Field = "stages" };
}
