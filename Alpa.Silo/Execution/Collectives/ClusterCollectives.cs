using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Tensor = Alpa.Kernels.Tensor;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>Settings of a <see cref="ClusterCollectives"/>; every process of a job must use the same values.</summary>
public sealed record CollectiveOptions
{
    /// <summary>Job tag, 0 … <see cref="TransferIds.MaxTag"/>, carried in the top bits of every transfer id (same on every silo of the job).</summary>
    public int Tag { get; init; }
    /// <summary>Deadline of one collective call; a peer that stays alive but silent this long fails the call with <see cref="CollectiveTimeoutException"/>.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Largest data-plane frame a call sends (a multiple of 4); larger pieces go as several frames.</summary>
    public int SegmentBytes { get; init; } = 8 << 20;
}

/// <summary>
/// <see cref="ICollectives"/> across silo processes. Every process of the group calls the same group
/// call (same ranks, same order of calls per group) with the tensors of <b>its own</b> members: one per
/// member (entries of remote members are not read) or one per local member. Hierarchical: members on
/// one silo are combined through shared memory, and only one piece per silo crosses the network.
/// All-reduce is a ring over the group's silos (reduce-scatter then all-gather, 2(S−1) steps, each silo
/// sending 2(S−1)/S of the tensor); all-gather, reduce-scatter and all-to-all send each silo's bundle
/// straight to the silo that needs it (the same bytes per silo as a ring, in one step). Reductions use
/// a fixed order (members of a silo in group order, then silos around the ring), so every run gives the
/// same bits and every member the same result. <see cref="Traffic"/> counts ring-equivalent bytes per
/// rank exactly like <see cref="SharedMemoryCollectives"/>; <see cref="NetworkBytes"/> counts what
/// crossed between silos.
/// </summary>
public sealed partial class ClusterCollectives : ICollectives, IDisposable
{
    private readonly RankPlacement _placement;
    private readonly IPeerTransport _transport;
    private readonly CollectiveOptions _options;
    private readonly CancellationToken _job;
    private readonly Dictionary<ulong, long> _sequences = [];
    private readonly long[] _sent;
    private readonly long[] _received;
    private readonly int[] _calls;

    public ClusterCollectives(RankPlacement placement, IPeerTransport transport, CollectiveOptions? options = null, CancellationToken job = default)
    {
        ArgumentNullException.ThrowIfNull(placement);
        ArgumentNullException.ThrowIfNull(transport);
        _options = options ?? new CollectiveOptions();
        if (_options.Tag is < 0 or > TransferIds.MaxTag)
            throw new KernelException($"collective tag {_options.Tag} is outside 0 … {TransferIds.MaxTag}");
        if (_options.SegmentBytes < 4 || _options.SegmentBytes % 4 != 0)
            throw new KernelException($"SegmentBytes {_options.SegmentBytes} must be a positive multiple of 4");
        if (placement.Self != transport.Self)
            throw new KernelException($"placement says this silo is {placement.Self}, the transport says {transport.Self}");
        _placement = placement;
        _transport = transport;
        _job = job;
        _sent = new long[placement.WorldSize];
        _received = new long[placement.WorldSize];
        _calls = new int[placement.WorldSize];
    }

    public int WorldSize => _placement.WorldSize;

    /// <summary>Bytes this silo sent to and received from other silos (all calls, all jobs of the transport).</summary>
    public (long Sent, long Received) NetworkBytes => _transport.Bytes;

    public void AllReduce(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> buffers, CollectiveReduce op = CollectiveReduce.Sum) =>
        Wait(() => AllReduceAsync(ranks, buffers, op));

    public void AllGather(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis) =>
        Wait(() => AllGatherAsync(ranks, inputs, outputs, axis));

    public void ReduceScatter(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int axis,
                              CollectiveReduce op = CollectiveReduce.Sum) =>
        Wait(() => ReduceScatterAsync(ranks, inputs, outputs, axis, op));

    public void AllToAll(IReadOnlyList<int> ranks, IReadOnlyList<Tensor> inputs, IReadOnlyList<Tensor> outputs, int splitAxis, int concatAxis) =>
        Wait(() => AllToAllAsync(ranks, inputs, outputs, splitAxis, concatAxis));

    public void SendRecv(int source, Tensor sent, int destination, Tensor received) =>
        Wait(() => SendRecvAsync(source, sent, destination, received));

    public CollectiveTraffic Traffic(int rank)
    {
        if (rank < 0 || rank >= WorldSize) throw new KernelException($"rank {rank} is outside the communicator of {WorldSize} ranks");
        lock (_sequences)
        {
            return new CollectiveTraffic { BytesSent = _sent[rank], BytesReceived = _received[rank], Calls = _calls[rank] };
        }
    }

    public void ResetTraffic()
    {
        lock (_sequences)
        {
            Array.Clear(_sent);
            Array.Clear(_received);
            Array.Clear(_calls);
        }
    }

    /// <summary>Drops whatever peers sent for this job that was never received (after a failure).</summary>
    public void Dispose() => _transport.DropUnclaimed(id => TransferIds.HasTag(id, _options.Tag));

    /// <summary>Runs an async call to completion from synchronous code (the SPMD executor's thread).</summary>
    private static void Wait(Func<Task> call) => Task.Run(call).GetAwaiter().GetResult();

    /// <summary>Starts one call on a group: its layout, sequence number and deadline.</summary>
    private Call Begin(string kind, IReadOnlyList<int> ranks, CancellationToken token)
    {
        var layout = GroupLayout.Of(_placement, ranks, kind);
        var key = TransferIds.Group(kind, ranks);
        long sequence;
        lock (_sequences)
        {
            _sequences.TryGetValue(key, out sequence);
            _sequences[key] = sequence + 1;
        }
        return new Call(this, $"{kind} of group {layout}", layout, key, sequence, token);
    }

    private void Count(GroupLayout layout, long sentPerMember, long receivedPerMember)
    {
        if (layout.Count < 2) return;
        lock (_sequences)
        {
            foreach (var k in layout.LocalMembers)
            {
                var r = layout.Ranks[k];
                _sent[r] += sentPerMember;
                _received[r] += receivedPerMember;
                _calls[r]++;
            }
        }
    }

    /// <summary>Element-wise reduction of the local members (group order) into <paramref name="acc"/>.</summary>
    private static void LocalReduce(Tensor[] local, Span<byte> acc, CollectiveReduce op, string what)
    {
        if (!local[0].Type.IsFloat()) throw new KernelException($"{what}: cannot reduce {local[0]}: only float tensors reduce");
        Blocks.Bytes(local[0]).CopyTo(acc);
        for (var i = 1; i < local.Length; i++) Accumulate(MemoryMarshal.Cast<byte, float>(acc), local[i].Floats(), op);
    }

    /// <summary>acc ← acc ⊕ x.</summary>
    private static void Accumulate(Span<float> acc, ReadOnlySpan<float> x, CollectiveReduce op)
    {
        if (op == CollectiveReduce.Sum) TensorPrimitives.Add(acc, x, acc);
        else TensorPrimitives.Max(acc, x, acc);
    }

    private static byte[] Rent(long bytes) => ArrayPool<byte>.Shared.Rent((int)Math.Max(bytes, 1));

    private static void Return(byte[] buffer) => ArrayPool<byte>.Shared.Return(buffer);

    /// <summary>
    /// One call in flight: ids of its transfers and its deadline. The first transfer that fails stops the
    /// call's other transfers, and the call reports that failure (not the cancellations it caused).
    /// </summary>
    private sealed class Call : IDisposable
    {
        private readonly ClusterCollectives _owner;
        private readonly CancellationToken _caller;
        private readonly CancellationTokenSource _cts;
        private readonly Task? _watch;
        private Exception? _failure;

        public Call(ClusterCollectives owner, string what, GroupLayout layout, ulong group, long sequence, CancellationToken token)
        {
            _owner = owner;
            _caller = token;
            What = what;
            Layout = layout;
            Group = group;
            Sequence = sequence;
            _cts = CancellationTokenSource.CreateLinkedTokenSource(token, owner._job);
            _cts.CancelAfter(owner._options.CallTimeout);
            if (layout.Silos.Length > 1) _watch = WatchAsync();
        }

        public string What { get; }
        public GroupLayout Layout { get; }
        public ulong Group { get; }
        public long Sequence { get; }

        /// <summary>Sends <paramref name="data"/> to silo <paramref name="to"/> (layout index) as step <paramref name="step"/>, in segments.</summary>
        public async Task SendAsync(int step, int to, ReadOnlyMemory<byte> data)
        {
            var segment = _owner._options.SegmentBytes;
            for (int offset = 0, s = 0; offset < data.Length || s == 0; offset += segment, s++)
            {
                var piece = data.Slice(offset, Math.Min(segment, data.Length - offset));
                var id = TransferIds.Of(_owner._options.Tag, Group, Sequence, step, Layout.Self, to, s);
                await Guard(Layout.Silos[to], _owner._transport.SendAsync(Layout.Silos[to], id, piece, _cts.Token)).ConfigureAwait(false);
            }
        }

        /// <summary>Receives step <paramref name="step"/> from silo <paramref name="from"/> into exactly <paramref name="data"/>; segments posted at once.</summary>
        public Task ReceiveAsync(int step, int from, Memory<byte> data)
        {
            var segment = _owner._options.SegmentBytes;
            var receives = new List<Task>();
            for (int offset = 0, s = 0; offset < data.Length || s == 0; offset += segment, s++)
            {
                var piece = data.Slice(offset, Math.Min(segment, data.Length - offset));
                var id = TransferIds.Of(_owner._options.Tag, Group, Sequence, step, from, Layout.Self, s);
                receives.Add(Guard(Layout.Silos[from], _owner._transport.ReceiveAsync(Layout.Silos[from], id, piece, _cts.Token)));
            }
            return Task.WhenAll(receives);
        }

        /// <summary>Records the first failure (stopping the rest of the call) and turns the deadline into <see cref="CollectiveTimeoutException"/>.</summary>
        private async Task Guard(string silo, Task transfer)
        {
            try
            {
                await transfer.ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                if (Interlocked.CompareExchange(ref _failure, e, null) is null) await _cts.CancelAsync().ConfigureAwait(false);
                throw;
            }
            catch (OperationCanceledException)
            {
                if (Volatile.Read(ref _failure) is { } first) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(first);
                if (_caller.IsCancellationRequested || _owner._job.IsCancellationRequested) throw;
                throw new CollectiveTimeoutException(silo, What, _owner._options.CallTimeout);
            }
        }

        /// <summary>Watches every other silo of the group while the call runs, so that a silo waiting on a live neighbour still learns that a third one died.</summary>
        private async Task WatchAsync()
        {
            try
            {
                var others = Layout.Silos.Where((_, s) => s != Layout.Self).ToList();
                await _owner._transport.WatchAsync(others, _cts.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The call ended (or timed out: its transfers report that).
            }
            catch (Exception e) when (e is CollectiveException)
            {
                if (Interlocked.CompareExchange(ref _failure, e, null) is null) await _cts.CancelAsync().ConfigureAwait(false);
            }
        }

        public void Dispose()
        {
            _cts.Cancel();
            if (_watch is null) _cts.Dispose();
            else _watch.ContinueWith(_ => _cts.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
        }
    }
}
