using Alpa.Kernels;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// Where the ranks of a cross-silo communicator live: <c>SiloOfRank[r]</c> is the advertised address of
/// the silo whose process owns rank r. Every process of a job builds the same placement; <see cref="Self"/>
/// is the silo this process is.
/// </summary>
/// <param name="SiloOfRank">Silo address per global rank.</param>
/// <param name="Self">Address of this process's silo.</param>
public sealed record RankPlacement(IReadOnlyList<string> SiloOfRank, string Self)
{
    /// <summary>Number of ranks in the communicator.</summary>
    public int WorldSize => SiloOfRank.Count;

    /// <summary>True when rank <paramref name="rank"/> lives in this process.</summary>
    public bool IsLocal(int rank) => SiloOfRank[rank] == Self;

    /// <summary>Ranks of this process, ascending.</summary>
    public IEnumerable<int> LocalRanks => Enumerable.Range(0, WorldSize).Where(IsLocal);

    /// <summary>A placement of <paramref name="silos"/> with <paramref name="devicesPerSilo"/> consecutive ranks each.</summary>
    public static RankPlacement Blocked(IReadOnlyList<string> silos, int devicesPerSilo, string self) =>
        new([.. silos.SelectMany(s => Enumerable.Repeat(s, devicesPerSilo))], self);
}

/// <summary>
/// One group call seen from this process: the group's silos in order of first appearance in the
/// group (the silo ring), the members each silo hosts (member indices in group order), and which
/// members are local.
/// </summary>
internal sealed class GroupLayout
{
    private GroupLayout(IReadOnlyList<int> ranks, string[] silos, int[][] members, int self)
    {
        Ranks = ranks;
        Silos = silos;
        Members = members;
        Self = self;
    }

    /// <summary>Global ranks of the members, in group order.</summary>
    public IReadOnlyList<int> Ranks { get; }
    /// <summary>Distinct silos of the group, in order of their first member.</summary>
    public string[] Silos { get; }
    /// <summary>Members[s]: indices (into <see cref="Ranks"/>) of the members silo s hosts, ascending.</summary>
    public int[][] Members { get; }
    /// <summary>Index of this process's silo in <see cref="Silos"/>.</summary>
    public int Self { get; }

    public int Count => Ranks.Count;
    public int[] LocalMembers => Members[Self];
    public int Next => (Self + 1) % Silos.Length;
    public int Previous => (Self + Silos.Length - 1) % Silos.Length;

    /// <summary>"[0, 1, 4, 5]" for messages.</summary>
    public override string ToString() => $"[{string.Join(", ", Ranks)}]";

    public static GroupLayout Of(RankPlacement placement, IReadOnlyList<int> ranks, string what)
    {
        ArgumentNullException.ThrowIfNull(ranks);
        if (ranks.Count == 0) throw new KernelException($"{what}: the group is empty");
        if (ranks.Distinct().Count() != ranks.Count)
            throw new KernelException($"{what}: group [{string.Join(", ", ranks)}] names a rank twice");
        var silos = new List<string>();
        var members = new List<List<int>>();
        for (var k = 0; k < ranks.Count; k++)
        {
            if (ranks[k] < 0 || ranks[k] >= placement.WorldSize)
                throw new KernelException($"{what}: rank {ranks[k]} is outside the communicator of {placement.WorldSize} ranks");
            var silo = placement.SiloOfRank[ranks[k]];
            var s = silos.IndexOf(silo);
            if (s < 0)
            {
                silos.Add(silo);
                members.Add([]);
                s = silos.Count - 1;
            }
            members[s].Add(k);
        }
        var self = silos.IndexOf(placement.Self);
        if (self < 0)
            throw new KernelException($"{what}: no member of group [{string.Join(", ", ranks)}] lives on silo {placement.Self}; only member silos call a group");
        return new GroupLayout(ranks, [.. silos], [.. members.Select(m => m.ToArray())], self);
    }

    /// <summary>
    /// The local members' tensors, aligned with <see cref="LocalMembers"/>. <paramref name="tensors"/> is
    /// either one tensor per member (entries of remote members are not read) or one per local member.
    /// </summary>
    public Tensor[] Local(IReadOnlyList<Tensor> tensors, string what)
    {
        ArgumentNullException.ThrowIfNull(tensors);
        var local = LocalMembers;
        Tensor[] picked;
        if (tensors.Count == Count) picked = [.. local.Select(k => tensors[k])];
        else if (tensors.Count == local.Length) picked = [.. tensors];
        else
            throw new KernelException($"{what}: group {this} has {Count} members, {local.Length} on this silo, but {tensors.Count} tensors were given; " +
                                      "give one per member or one per local member");
        foreach (var t in picked)
            if (t is null) throw new KernelException($"{what}: a local member of group {this} has no tensor");
        for (var i = 1; i < picked.Length; i++)
            if (!picked[i].Shape.SequenceEqual(picked[0].Shape) || picked[i].Type.IsFloat() != picked[0].Type.IsFloat())
                throw new KernelException($"{what}: local members have {picked[i]} and {picked[0]}; members must match");
        return picked;
    }
}
