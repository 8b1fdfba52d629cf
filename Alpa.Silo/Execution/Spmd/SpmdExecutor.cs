using Alpa.Kernels;
using Alpa.Kernels.Collectives;
using Alpa.Kernels.Cpu;
using Alpa.Kernels.Cpu.Kernels;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;

namespace Alpa.Silo.Execution.Spmd;

/// <summary>What one SPMD step produced and cost, per device.</summary>
public sealed record SpmdStepResult
{
    /// <summary>The graph's loss (replicated: read from device 0).</summary>
    public float? Loss { get; init; }
    /// <summary>The graph's outputs by node name, assembled from the shards.</summary>
    public required IReadOnlyDictionary<string, HostTensor> Outputs { get; init; }
    /// <summary>Largest bytes of live buffers per device during the step (persistent ones included).</summary>
    public required IReadOnlyList<long> PeakLiveBytes { get; init; }
    /// <summary>Every collective of the step, in issue order.</summary>
    public required IReadOnlyList<CollectiveRecord> Collectives { get; init; }
    /// <summary>Ring-equivalent bytes each device sent during the step.</summary>
    public required IReadOnlyList<long> SentBytes { get; init; }
    /// <summary>Per node id: wall seconds of the node on the whole mesh and, of those, seconds inside collectives.</summary>
    public required IReadOnlyList<(double Seconds, double CollectiveSeconds)> NodeSeconds { get; init; }
}

/// <summary>
/// Runs a graph on the CPU devices of one (n0, n1) logical mesh exactly as an intra-op plan says
/// (SPMD: every device runs every node on its shards). Parameters are initialized full from the
/// seed as <see cref="GraphExecutor"/> does, then sharded; states start at zero. Each node's inputs
/// are resharded from their producers' specs to the specs its strategy requires, the local kernel
/// runs on per-device shapes, and the strategy's collectives complete it. Tensors are freed after
/// their last use as on one device.
/// </summary>
public sealed partial class SpmdExecutor : IDisposable
{
    private readonly Graph _graph;
    private readonly IntraResult _plan;
    private readonly NodeProgram[] _program;
    private readonly CpuDevice[] _devices;
    private readonly MeshCommunicator _comm;
    private readonly ICollectives _collectives;
    private readonly Dictionary<int, Tensor[]> _persistent = [];
    private readonly bool[] _keep;

    private readonly HashSet<int> _borrowed = [];
    private readonly bool _ownsDevices;

    /// <summary>Lowers and checks the whole plan before allocating anything.</summary>
    /// <param name="shareWith">
    /// Another executor on the same mesh whose devices, and whose parameters and states of the same
    /// name and sharding spec, this one uses instead of its own (prefill and decode programs share
    /// weights and caches). It must outlive this one.
    /// </param>
    /// <param name="placement">Which ranks of the mesh run here and how they reach the others; default: the whole mesh, in-process collectives.</param>
    public SpmdExecutor(Graph graph, IntraResult plan, ulong seed, SpmdExecutor? shareWith = null, MeshPlacement? placement = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(plan);
        _program = SpmdProgram.Lower(graph, plan);
        _graph = graph;
        _plan = plan;
        var mesh = plan.Mesh;
        if (shareWith is not null && !shareWith._plan.Mesh.Shape.SequenceEqual(mesh.Shape))
            throw new SpmdException($"programs that share state must run on the same mesh: ({string.Join(", ", mesh.Shape)}) vs ({string.Join(", ", shareWith._plan.Mesh.Shape)})");
        if (shareWith is not null && placement is not null) throw new SpmdException("a program that shares another's state runs on that one's placement");
        placement?.Validate(mesh);
        var ranks = placement?.LocalRanks ?? shareWith?._comm.Ranks ?? [.. Enumerable.Range(0, mesh.Devices)];
        _ownsDevices = shareWith is null;
        _devices = shareWith?._devices ?? [.. ranks.Select(r => new CpuDevice(r))];
        _collectives = placement?.Collectives ?? shareWith?._collectives ?? new SharedMemoryCollectives(mesh.Devices);
        _comm = new MeshCommunicator(mesh, [.. _devices], _collectives, ranks);
        _keep = new bool[graph.Nodes.Count];
        foreach (var o in graph.Outputs) _keep[o.Id] = true;
        if (graph.Loss is { } loss) _keep[loss.Id] = true;
        foreach (var u in graph.Updates) _keep[u.Value.Id] = true;
        foreach (var n in graph.Nodes)
        {
            if (n.Op is not (OpKind.Parameter or OpKind.State)) continue;
            if (shareWith?.Borrowable(n, _program[n.Id].Strategy.Output) is { } shards)
            {
                _persistent[n.Id] = shards;
                _borrowed.Add(n.Id);
            }
            else _persistent[n.Id] = Initial(n, seed);
        }
    }

    /// <summary>The shards of this executor's parameter or state named like <paramref name="n"/> when its shape and spec match.</summary>
    private Tensor[]? Borrowable(Node n, Planner.Sharding.ShardingSpec spec) =>
        _graph.TryGet(n.Name, out var mine) && mine.Op == n.Op && mine.Shape == n.Shape
        && _program[mine.Id].Strategy.Output.Equals(spec) && _persistent.TryGetValue(mine.Id, out var shards) ? shards : null;

    /// <summary>Overwrites a parameter or state with a full value (sharded here as the plan says).</summary>
    public void Write(string name, HostTensor value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!_graph.TryGet(name, out var node) || !_persistent.TryGetValue(node.Id, out var shards))
            throw new ExecutionException($"the graph has no parameter or state named '{name}'") { Field = name };
        if (!value.Shape.AsSpan().SequenceEqual(node.Shape.AsSpan()))
            throw new ExecutionException($"'{name}' has shape {node.Shape}, the value has [{string.Join(", ", value.Shape)}]") { Field = name };
        for (var r = 0; r < shards.Length; r++)
            _devices[r].CopyFromHost(ShardLayout.Shard(value, _program[node.Id].Strategy.Output, _plan.Mesh, _comm.Rank(r)), shards[r]);
    }

    public Graph Graph => _graph;
    public IntraResult Plan => _plan;
    public int Devices => _devices.Length;
    /// <summary>Parameters and states this executor uses from the one it was told to share with.</summary>
    public int SharedPersistent => _borrowed.Count;

    /// <summary>Bytes of parameters and optimizer states each device stores (element count × dtype size).</summary>
    public IReadOnlyList<long> PersistentBytes =>
        [.. Enumerable.Range(0, _devices.Length).Select(r => _persistent.Sum(kv => kv.Value[r].Elements * (long)_graph.Nodes[kv.Key].DType.Size()))];

    /// <summary>Bytes of the states (not parameters) each device stores, e.g. serving's key/value caches.</summary>
    public IReadOnlyList<long> StateBytes =>
        [.. Enumerable.Range(0, _devices.Length).Select(r => _persistent.Where(kv => _graph.Nodes[kv.Key].Op == OpKind.State)
                                                                       .Sum(kv => kv.Value[r].Elements * (long)_graph.Nodes[kv.Key].DType.Size()))];

    /// <summary>The full value of a parameter or state, assembled from the shards.</summary>
    public HostTensor Read(string name)
    {
        if (!_graph.TryGet(name, out var node) || !_persistent.TryGetValue(node.Id, out var shards))
            throw new ExecutionException($"the graph has no parameter or state named '{name}'") { Field = name };
        return Gather(node, shards);
    }

    internal HostTensor Gather(Node node, Tensor[] shards)
    {
        if (!_comm.HoldsWholeMesh)
            throw new ExecutionException($"'{node.Name}' cannot be assembled here: this process holds ranks {string.Join(", ", _comm.Ranks)} of a mesh of {_plan.Mesh.Devices}; read the blocks (ReadBlocks) and assemble them where all are") { Field = node.Name };
        var host = shards.Select((t, r) => _devices[r].CopyToHost(t)).ToList();
        return ShardLayout.Assemble(host, node.Shape, _program[node.Id].Strategy.Output, _plan.Mesh);
    }

    /// <summary>Runs every node once on every device and applies the updates.</summary>
    public SpmdStepResult Run(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        foreach (var n in _graph.Inputs) CheckInput(n, inputs);
        var values = new Tensor[]?[_graph.Nodes.Count];
        var lastUse = _graph.LastUse;
        foreach (var d in _devices) d.ResetPeak();
        _comm.ClearLog();
        _collectives.ResetTraffic();
        var seconds = new (double, double)[_graph.Nodes.Count];
        try
        {
            var pending = new List<Update>(_graph.Updates);
            foreach (var p in _program)
            {
                var (t0, c0) = (System.Diagnostics.Stopwatch.GetTimestamp(), _comm.CollectiveSeconds);
                values[p.Node.Id] = Evaluate(p, values, inputs);
                seconds[p.Node.Id] = (System.Diagnostics.Stopwatch.GetElapsedTime(t0).TotalSeconds, _comm.CollectiveSeconds - c0);
                foreach (var input in p.Node.Inputs) Release(input.Id, p.Node.Id, lastUse, values);
                Release(p.Node.Id, p.Node.Id, lastUse, values);
                ApplyDue(pending, p.Node.Id, values);
            }
            float? loss = _graph.Loss is { } l ? values[l.Id]![0].Floats()[0] : null;
            var outputs = _graph.Outputs.ToDictionary(o => o.Name, o => Gather(o, values[o.Id]!), StringComparer.Ordinal);
            ApplyUpdates(values, pending);
            return new SpmdStepResult
            {
                Loss = loss,
                Outputs = outputs,
                PeakLiveBytes = [.. _devices.Select(d => d.Memory.PeakLiveBytes)],
                Collectives = [.. _comm.Log],
                SentBytes = [.. Enumerable.Range(0, _devices.Length).Select(r => _collectives.Traffic(_comm.Rank(r)).BytesSent)],
                NodeSeconds = seconds,
            };
        }
        finally
        {
            for (var i = 0; i < values.Length; i++)
                if (!_persistent.ContainsKey(i) && values[i] is { } v && !IsPersistentArray(v)) DisposeAll(v);
        }
    }

    // Hooks for the pipeline's stage runtime, which runs the forward, backward and update parts of
    // one stage graph at different times (Execution/Pipeline/StageRuntime.cs).
    internal IReadOnlyList<NodeProgram> Program => _program;
    internal IReadOnlyList<CpuDevice> MeshDevices => _devices;
    internal MeshCommunicator Communicator => _comm;
    internal bool IsPersistent(int id) => _persistent.ContainsKey(id);

    /// <summary>Per-rank shards of a full host tensor in <paramref name="spec"/>.</summary>
    internal Tensor[] Upload(HostTensor full, Planner.Sharding.ShardingSpec spec) =>
        [.. _devices.Select((d, r) => d.Upload(ShardLayout.Shard(full, spec, _plan.Mesh, _comm.Rank(r))))];

    /// <summary>
    /// Evaluates one node; with <paramref name="deferCompletion"/> a node's partial sums are returned
    /// in its pre-completion layout, to be completed once by <see cref="CompleteDeferred"/>.
    /// </summary>
    internal Tensor[] Evaluate(NodeProgram p, Tensor[]?[] values, IReadOnlyDictionary<string, HostTensor> inputs, bool deferCompletion) =>
        Evaluate(p, values, inputs, deferCompletion ? DeferredCompletion : null);

    /// <summary>Completes partial sums left by a deferred evaluation (e.g. accumulated over microbatches).</summary>
    internal Tensor[] CompleteDeferred(NodeProgram p, Tensor[] partial) => Complete(p, partial);

    internal void ApplyUpdatesTo(Tensor[]?[] values) => ApplyUpdates(values, _graph.Updates);

    private static readonly Func<NodeProgram, Tensor[], Tensor[]> DeferredCompletion = (_, y) => y;

    private Tensor[] Evaluate(NodeProgram p, Tensor[]?[] values, IReadOnlyDictionary<string, HostTensor> inputs,
                              Func<NodeProgram, Tensor[], Tensor[]>? complete = null)
    {
        var node = p.Node;
        switch (node.Op)
        {
            case OpKind.Parameter or OpKind.State:
                return _persistent[node.Id];
            case OpKind.Input:
                return [.. _devices.Select((d, r) => d.Upload(ShardLayout.Shard(inputs[node.Name], p.Strategy.Output, _plan.Mesh, _comm.Rank(r))))];
            case OpKind.Constant:
                return [.. _devices.Select(d => Constant(node, d, p.LocalShape))];
        }
        var args = new Tensor[node.Inputs.Count][];
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                var x = node.Inputs[i];
                args[i] = Resharder.Reshard(_comm, values[x.Id]!, _program[x.Id].Strategy.Output, p.Strategy.Inputs[i], x.Name, "reshard");
                if (!p.KernelInputs[i].Equals(p.Strategy.Inputs[i])) args[i] = Move(args[i], p.Strategy.Inputs[i], p.KernelInputs[i], x.Name);
            }
            if (p.Kernel == LocalKernel.View)
            {
                var views = new Tensor[args[0].Length];
                for (var r = 0; r < views.Length; r++) views[r] = args[0][r].View(p.LocalShape);
                return views;
            }
            // Plain loops: this runs once per node of every step, and LINQ's closures and iterators were a
            // large share of a step's garbage.
            var perRank = new Tensor[_devices.Length][];
            for (var r = 0; r < perRank.Length; r++)
            {
                var mine = perRank[r] = new Tensor[args.Length];
                for (var i = 0; i < args.Length; i++) mine[i] = args[i][r];
            }
            var y = p.Kernel == LocalKernel.Dispatch ? Dispatch(p, perRank) : SpmdKernels.Run(p, perRank, _comm);
            y = complete is null ? Complete(p, y) : complete(p, y);
            return p.KernelOutput.Equals(p.Strategy.Output) ? y : Move(y, p.KernelOutput, p.Strategy.Output, node.Name);
        }
        finally
        {
            foreach (var a in args) if (a is not null) DisposeAll(a);
        }
    }

    /// <summary>A strategy's own layout change (the expert all-to-all); the old shards are freed.</summary>
    private Tensor[] Move(Tensor[] x, Planner.Sharding.ShardingSpec from, Planner.Sharding.ShardingSpec to, string tensor)
    {
        var y = Resharder.Reshard(_comm, x, from, to, tensor, "strategy");
        DisposeAll(x);
        return y;
    }

    /// <summary>
    /// Runs the node's local kernel on every device. The devices of a mesh run at once (one task per
    /// device) when the per-device work is large enough to pay for the hand-off; each device writes
    /// only its own shard, so the result does not depend on the order.
    /// </summary>
    private Tensor[] Dispatch(NodeProgram p, Tensor[][] perRank)
    {
        var y = new Tensor[_devices.Length];
        for (var r = 0; r < y.Length; r++) y[r] = _devices[r].Allocate(p.Node.DType.ToElementType(), p.LocalShape);
        if (y.Length > 1 && Concurrent(p, y[0]))
        {
            Parallel.For(0, y.Length, new ParallelOptions { MaxDegreeOfParallelism = y.Length },
                r => _devices[r].Run(static s => OpDispatch.Run(s.Op, s.Args, s.Output), (Op: p.Local!, Args: perRank[r], Output: y[r])));
        }
        else
        {
            for (var r = 0; r < y.Length; r++)
                _devices[r].Run(static s => OpDispatch.Run(s.Op, s.Args, s.Output), (Op: p.Local!, Args: perRank[r], Output: y[r]));
        }
        return y;
    }

    /// <summary>
    /// Per-device work from which the devices of a mesh run a kernel concurrently: 4 MFLOP (~50 µs of GEMM) or 1 MiB of
    /// output. Waking a pool thread for the other devices costs 50–200 µs on a loaded 2-core VM, so below this the calling
    /// thread ran both devices' kernels anyway (gpt-tiny on a (1, 2) mesh measured twice the concurrent prediction at 0.2 MFLOP).
    /// </summary>
    public const double ConcurrentFlops = 4e6, ConcurrentBytes = 1 << 20;

    private bool Concurrent(NodeProgram p, Tensor output) =>
        p.Node.Flops / _devices.Length >= ConcurrentFlops || output.Bytes >= ConcurrentBytes;

    /// <summary>Completes partial results with the strategy's collective.</summary>
    private Tensor[] Complete(NodeProgram p, Tensor[] y)
    {
        if (p.PreScale != 1)
            foreach (var t in y) Elementwise.Scale(t.Floats(), (float)p.PreScale, t.Floats());
        switch (p.Completion)
        {
            case Completion.AllReduceSum:
                _comm.AllReduce(p.PartialAxes, y, CollectiveReduce.Sum, p.Node.Name, "strategy");
                return y;
            case Completion.AllReduceMax:
                _comm.AllReduce(p.PartialAxes, y, CollectiveReduce.Max, p.Node.Name, "strategy");
                return y;
            case Completion.ReduceScatter:
                var scattered = _comm.ReduceScatter(p.PartialAxes, y, p.ScatterDim, p.Node.Name, "strategy");
                DisposeAll(y);
                return scattered;
            default:
                return y;
        }
    }

    private void ApplyUpdates(Tensor[]?[] values, IEnumerable<Update> updates)
    {
        foreach (var u in updates) Apply(u, values);
    }

    /// <summary>
    /// Applies every pending update whose value exists and whose target nothing reads after node
    /// <paramref name="at"/>, as the planner assumes (update values written in place, so the new
    /// parameters and moments never live beside the old ones for the rest of the step). Later
    /// readers of the value read the updated target.
    /// </summary>
    private void ApplyDue(List<Update> pending, int at, Tensor[]?[] values)
    {
        var lastUse = _graph.LastUse;
        for (var i = 0; i < pending.Count; i++)
        {
            var u = pending[i];
            if (values[u.Value.Id] is not { } value || IsPersistentArray(value) || lastUse[u.Target.Id] > at) continue;
            Apply(u, values);
            DisposeAll(value);
            values[u.Value.Id] = _persistent[u.Target.Id];
            pending.RemoveAt(i--);
        }
    }

    private void Apply(Update u, Tensor[]?[] values)
    {
        var target = _persistent[u.Target.Id];
        var value = Resharder.Reshard(_comm, values[u.Value.Id]!, _program[u.Value.Id].Strategy.Output,
                                      _program[u.Target.Id].Strategy.Output, u.Value.Name, "update");
        for (var r = 0; r < target.Length; r++)
            if (!ReferenceEquals(target[r].Buffer, value[r].Buffer)) _devices[r].Copy(value[r], target[r]);
        DisposeAll(value);
    }

    /// <summary>True for a parameter's or state's own shards (a value that now aliases its updated target).</summary>
    private bool IsPersistentArray(Tensor[] v) => _persistent.Values.Any(p => ReferenceEquals(p, v));

    private Tensor[] Initial(Node n, ulong seed)
    {
        var spec = _program[n.Id].Strategy.Output;
        HostTensor full;
        if (n.DType == DType.I32) full = HostTensor.FromInts(new int[n.Shape.Elements], n.Shape.ToArray());
        else
        {
            var values = new float[n.Shape.Elements];
            if (n.Op == OpKind.Parameter)
            {
                ParameterInit.Fill(n, seed, values);
                Elementwise.RoundTo(n.DType.ToElementType(), values, values);
            }
            full = HostTensor.FromFloats(n.DType.ToElementType(), values, n.Shape.ToArray());
        }
        return [.. _devices.Select((d, r) => d.Upload(ShardLayout.Shard(full, spec, _plan.Mesh, _comm.Rank(r))))];
    }

    private static Tensor Constant(Node node, Device device, long[] shape)
    {
        var t = device.Allocate(node.DType.ToElementType(), shape);
        if (t.Type.IsFloat()) t.Floats().Fill((float)node.Attrs.Value);
        else t.Ints().Fill((int)node.Attrs.Value);
        return t;
    }

    private void Release(int id, int at, IReadOnlyList<int> lastUse, Tensor[]?[] values)
    {
        if (lastUse[id] != at || _keep[id] || _persistent.ContainsKey(id) || values[id] is not { } v || IsPersistentArray(v)) return;
        DisposeAll(v);
        values[id] = null;
    }

    private void CheckInput(Node node, IReadOnlyDictionary<string, HostTensor> inputs)
    {
        if (!inputs.TryGetValue(node.Name, out var value))
            throw new ExecutionException($"input '{node.Name}' ({node.DType.ToJsonName()}{node.Shape}) was not given") { Field = node.Name };
        if (!value.Shape.AsSpan().SequenceEqual(node.Shape.AsSpan()) || value.Type.IsFloat() != node.DType.IsFloat())
            throw new ExecutionException($"input '{node.Name}' must be {node.DType.ToJsonName()}{node.Shape}, got {value.Type}[{string.Join(", ", value.Shape)}]") { Field = node.Name };
    }

    private static void DisposeAll(Tensor[] ts)
    {
        foreach (var t in ts) t?.Dispose();
    }

    public void Dispose()
    {
        foreach (var (id, ts) in _persistent)
            if (!_borrowed.Contains(id)) DisposeAll(ts);
        _persistent.Clear();
        if (_ownsDevices)
            foreach (var d in _devices) d.Dispose();
    }
}
