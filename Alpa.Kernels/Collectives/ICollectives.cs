namespace Alpa.Kernels.Collectives;

/// <summary>How an all-reduce or reduce-scatter combines the members' values.</summary>
public enum CollectiveReduce
{
    /// <summary>Element-wise sum, accumulated in group order (member 0 first).</summary>
    Sum,
    /// <summary>Element-wise maximum.</summary>
    Max,
}

/// <summary>Bytes one rank has moved through the collectives (ring-algorithm equivalent).</summary>
public sealed record CollectiveTraffic
{
    /// <summary>Bytes the rank sent to other ranks.</summary>
    public long BytesSent { get; init; }
    /// <summary>Bytes the rank received from other ranks.</summary>
    public long BytesReceived { get; init; }
    /// <summary>Collective calls the rank took part in.</summary>
    public int Calls { get; init; }
}

/// <summary>
/// Collective communication among the devices (ranks) of one process or cluster. Every call is a
/// <b>group call</b>: it names the ranks of one group in group order and gives one tensor per member
/// (<c>buffers[k]</c> belongs to <c>ranks[k]</c>); the call returns when every member has its result.
/// Reductions combine members in group order, so results are bit-reproducible and identical on
/// every member. Tensors along a split/concat <c>axis</c> are cut into equal contiguous blocks,
/// block k belonging to member k. An implementation across processes (<c>ClusterCollectives</c> in
/// Alpa.Silo) is called by every process of the group with the tensors of its own members only
/// (one per member with remote entries unread, or one per local member).
/// </summary>
public interface ICollectives
{
    /// <summary>Ranks this communicator connects.</summary>
    int WorldSize { get; }

    /// <summary>In place: every member's buffer becomes the reduction of all members' buffers.</summary>
    void AllReduce(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> buffers, CollectiveReduce op = CollectiveReduce.Sum);

    /// <summary>Every member's output is the members' inputs concatenated along <paramref name="axis"/> in group order.</summary>
    void AllGather(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis);

    /// <summary>Member k's output is block k (along <paramref name="axis"/>) of the reduction of all inputs.</summary>
    void ReduceScatter(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis,
                       CollectiveReduce op = CollectiveReduce.Sum);

    /// <summary>
    /// Member m's output is, concatenated along <paramref name="concatAxis"/> in group order, block m
    /// (along <paramref name="splitAxis"/>) of every member's input.
    /// </summary>
    void AllToAll(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int splitAxis, int concatAxis);

    /// <summary>Copies <paramref name="sent"/> of rank <paramref name="source"/> into <paramref name="received"/> of rank <paramref name="destination"/>.</summary>
    void SendRecv(int source, Tensor sent, int destination, Tensor received);

    /// <summary>Traffic of one rank since creation or <see cref="ResetTraffic"/>.</summary>
    CollectiveTraffic Traffic(int rank);

    /// <summary>Zeroes every rank's traffic counters.</summary>
    void ResetTraffic();
}
