namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// Transfer ids of the cross-silo collectives. Sender and receiver compute the same id from what both
/// know: the communicator's tag (the job), the group, the call's sequence number within that group,
/// and the step, sending silo, receiving silo and segment inside the call. The top 16 bits carry the
/// tag, so a job's leftovers can be dropped from the inbox; the low 48 bits are a SplitMix64 hash.
/// </summary>
public static class TransferIds
{
    /// <summary>Largest tag; 0xFFFF is kept for liveness probes.</summary>
    public const int MaxTag = 0xFFFE;

    /// <summary>The id of one segment of one step of one call.</summary>
    public static ulong Of(int tag, ulong group, long sequence, int step, int from, int to, int segment)
    {
        var h = Mix(group ^ Mix((ulong)sequence));
        h = Mix(h ^ ((ulong)(uint)step << 32 | (uint)segment));
        h = Mix(h ^ ((ulong)(uint)from << 32 | (uint)to));
        return ((ulong)(uint)tag << 48) | (h & 0x0000_FFFF_FFFF_FFFFUL);
    }

    /// <summary>A hash of a group's ranks (in group order) with a kind salt, to key per-group sequence numbers.</summary>
    public static ulong Group(string kind, IReadOnlyList<int> ranks)
    {
        var h = Mix((ulong)kind.Length * 0x9E37_79B9UL + (ulong)kind.GetHashCodeStable());
        foreach (var r in ranks) h = Mix(h ^ (uint)r);
        return h;
    }

    /// <summary>True when <paramref name="id"/> belongs to tag <paramref name="tag"/>.</summary>
    public static bool HasTag(ulong id, int tag) => id >> 48 == (ulong)(uint)tag;

    /// <summary>SplitMix64's finalizer.</summary>
    private static ulong Mix(ulong z)
    {
        z += 0x9E37_79B9_7F4A_7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58_476D_1CE4_E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D0_49BB_1331_11EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>FNV-1a over the characters: string.GetHashCode differs between processes.</summary>
    private static ulong GetHashCodeStable(this string s)
    {
        var h = 0xCBF2_9CE4_8422_2325UL;
        foreach (var c in s) h = (h ^ c) * 0x0000_0100_0000_01B3UL;
        return h;
    }
}
