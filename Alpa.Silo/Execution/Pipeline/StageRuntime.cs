using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Execution.Pipeline;

/// <summary>Named per-rank shards moved as one buffer (a microbatch's stash or a boundary bundle).</summary>
public sealed class ShardBundle(Dictionary<string, Tensor[]> tensors)
{
    public IReadOnlyDictionary<string, Tensor[]> Tensors => tensors;

    /// <summary>Bytes of one rank's shards.</summary>
    public long BytesPerDevice => tensors.Values.Sum(t => t.Length == 0 ? 0 : t[0].Bytes);

    public void Dispose()
    {
        foreach (var shards in tensors.Values)
            foreach (var t in shards) t.Dispose();
        tensors.Clear();
    }
}

/// <summary>What a forward RUN produced.</summary>
public sealed record ForwardOutputs(ShardBundle Stash, IReadOnlyDictionary<int, ShardBundle> Sent, float? Loss);

/// <summary>
/// One stage mesh's programs: the stage graph lowered once for its logical mesh (the SPMD lowering
/// of <see cref="SpmdExecutor"/>, strategies from the plan), run in three parts at the times the
/// instruction list says — forward of a microbatch, backward of a microbatch (parameter gradients
/// accumulated; their data-parallel reduction deferred to the per-step COLLECTIVEs), and the update.
/// </summary>
public sealed class StageRuntime : IDisposable
{
    private readonly SpmdExecutor _exec;
    private readonly StageGraph _stage;
    private readonly int[] _forward, _backward, _update;
    private readonly HashSet<string> _received;
    private readonly List<NodeProgram> _deferred;
    private readonly Dictionary<string, Tensor[]> _accumulated = new(StringComparer.Ordinal);
    private int _accumulatedMicrobatches;
    private readonly Dictionary<int[], Dictionary<int, int>> _lastUse = [];
    private HashSet<string>? _kept;

    /// <param name="placement">The ranks of the stage mesh this process runs (a mesh spanning silos); default: all of them.</param>
    public StageRuntime(StageGraph stage, IntraResult plan, ulong seed, MeshPlacement? placement = null)
    {
        ArgumentNullException.ThrowIfNull(stage);
        _stage = stage;
        _exec = new SpmdExecutor(stage.Graph, plan, seed, placement: placement);
        _received = stage.Received.Select(r => r.Name).ToHashSet(StringComparer.Ordinal);
        var nodes = stage.Graph.Nodes.Where(n => !n.IsLeaf).ToList();
        _forward = [.. nodes.Where(n => n.Phase == Phase.Forward).Select(n => n.Id)];
        _backward = [.. nodes.Where(n => n.Phase is Phase.Backward or Phase.Recompute).Select(n => n.Id)];
        _update = [.. nodes.Where(n => n.Phase == Phase.Update).Select(n => n.Id)];
        var consumers = stage.Graph.Consumers();
        _deferred = [.. stage.Gradients.Select(g => _exec.Program[stage.Graph[g].Id])
            .Where(p => p.Completion is Completion.AllReduceSum or Completion.ReduceScatter && p.KernelOutput.Equals(p.Strategy.Output)
                        && consumers[p.Node.Id].All(c => c.Phase == Phase.Update))];
    }

    public StageGraph Stage => _stage;
    public SpmdExecutor Executor => _exec;
    public IReadOnlyList<CpuDevice> Devices => _exec.MeshDevices;
    /// <summary>Gradient reductions deferred to once per step (the plan's per-step collectives).</summary>
    public int DeferredCollectives => _deferred.Count;

    public ForwardOutputs Forward(IReadOnlyDictionary<string, HostTensor> data, IEnumerable<ShardBundle> received)
    {
        var values = Preset(received);
        var preset = values.Select(v => v is not null).ToArray();
        Run(_forward, values, data, preset, deferred: null);
        var stash = Take(values, preset, _stage.Saved.Where(n => !_received.Contains(n)));
        var sent = Bundles(values, preset, backward: false);
        float? loss = _stage.Graph.Loss is { } l ? values[l.Id]![0].Floats()[0] : null;
        Clear(values, preset);
        return new ForwardOutputs(stash, sent, loss);
    }

    /// <summary>Runs the backward of one microbatch; returns the gradient bundles for earlier stages.</summary>
    public IReadOnlyDictionary<int, ShardBundle> Backward(IReadOnlyDictionary<string, HostTensor> data, IEnumerable<ShardBundle> inputs)
    {
        var values = Preset(inputs);
        var preset = values.Select(v => v is not null).ToArray();
        var deferred = _deferred.Select(p => p.Node.Id).ToHashSet();
        Run(_backward, values, data, preset, deferred);
        foreach (var g in _stage.Gradients)
        {
            var id = _stage.Graph[g].Id;
            var v = values[id] ?? throw new ExecutionException($"stage {_stage.Stage}: gradient '{g}' was not computed");
            if (_accumulated.Remove(g, out var sum))
            {
                for (var r = 0; r < v.Length; r++) TensorPrimitives.Add(sum[r].Floats(), v[r].Floats(), sum[r].Floats());
                foreach (var t in v) t.Dispose();
                v = sum;
            }
            _accumulated[g] = v;
            values[id] = null;
        }
        _accumulatedMicrobatches++;
        var sent = Bundles(values, preset, backward: true);
        Clear(values, preset);
        return sent;
    }

    /// <summary>Completes the deferred gradient reductions of part <paramref name="index"/> of <paramref name="parts"/>.</summary>
    public void Collective(int index, int parts)
    {
        var n = _deferred.Count;
        for (var i = index * n / parts; i < (index + 1) * n / parts; i++)
        {
            var p = _deferred[i];
            var name = p.Node.Name;
            if (!_accumulated.Remove(name, out var partial))
                throw new ExecutionException($"stage {_stage.Stage}: COLLECTIVE before any backward produced '{name}'");
            _accumulated[name] = _exec.CompleteDeferred(p, partial);
        }
    }

    /// <summary>Applies the optimizer to the mean of the accumulated gradients.</summary>
    public void Update(float learningRate, int step)
    {
        if (_accumulatedMicrobatches == 0) throw new ExecutionException($"stage {_stage.Stage}: UPDATE without any backward");
        var values = new Tensor[]?[_stage.Graph.Nodes.Count];
        var scale = 1f / _accumulatedMicrobatches;
        foreach (var (name, sum) in _accumulated)
        {
            foreach (var t in sum) TensorPrimitives.Multiply(t.Floats(), scale, t.Floats());
            values[_stage.Graph[name].Id] = sum;
        }
        _accumulated.Clear();
        _accumulatedMicrobatches = 0;
        var preset = new bool[values.Length];
        var inputs = Training.Trainer.StepInputs(new Dictionary<string, HostTensor>(), learningRate, step);
        Run(_update, values, inputs, preset, deferred: null);
        _exec.ApplyUpdatesTo(values);
        Clear(values, preset);
    }

    /// <summary>The logical mesh of the stage.</summary>
    public Planner.Cluster.LogicalMesh Mesh => _exec.Plan.Mesh;

    /// <summary>The spec this stage holds (or reads) a tensor in.</summary>
    public Planner.Sharding.ShardingSpec SpecOf(string name) => _exec.Program[_stage.Graph[name].Id].Strategy.Output;

    /// <summary>Mesh ranks this process runs, by local index (all ranks unless the mesh spans silos).</summary>
    public IReadOnlyList<int> Ranks => _exec.Communicator.Ranks;

    /// <summary>The local index of mesh rank <paramref name="rank"/>, or −1 when another silo runs it.</summary>
    public int LocalIndex(int rank)
    {
        var ranks = Ranks;
        for (var k = 0; k < ranks.Count; k++)
            if (ranks[k] == rank) return k;
        return -1;
    }

    /// <summary>The mesh and the specs of the stage's boundary tensors (what routes to and from it need).</summary>
    public StageLayout Layout => new(Mesh, _stage.Sent.Concat(_stage.Received).Select(t => t.Name).Distinct()
        .ToDictionary(n => n, SpecOf, StringComparer.Ordinal));

    /// <summary>Where rank <paramref name="rank"/>'s block of a tensor starts, per dim.</summary>
    public long[] BlockOffsets(string name, int rank)
    {
        var node = _stage.Graph[name];
        var spec = SpecOf(name);
        return ShardLayout.Offsets(spec, Mesh, rank, ShardLayout.LocalShape(node.Shape, spec, Mesh));
    }

    /// <summary>The shape of one local shard of a tensor in this stage's layout.</summary>
    public long[] LocalShape(string name) => ShardLayout.LocalShape(_stage.Graph[name].Shape, SpecOf(name), Mesh);

    /// <summary>Zeroed host shards of a tensor in this stage's layout, one per local rank.</summary>
    public HostTensor[] LocalShards(string name)
    {
        var node = _stage.Graph[name];
        var shape = LocalShape(name);
        var elements = shape.Aggregate(1L, (a, b) => a * b);
        return [.. Devices.Select(_ => node.DType == DType.I32
            ? HostTensor.FromInts(new int[elements], shape)
            : HostTensor.FromFloats(node.DType.ToElementType(), new float[elements], shape))];
    }

    private static readonly Dictionary<string, HostTensor> EmptyInputs = [];


    private Tensor[]?[] Preset(IEnumerable<ShardBundle> bundles)
    {
        var values = new Tensor[]?[_stage.Graph.Nodes.Count];
        foreach (var b in bundles)
            foreach (var (name, shards) in b.Tensors) values[_stage.Graph[name].Id] = shards;
        return values;
    }

    /// <summary>Evaluates <paramref name="ids"/> in order; frees each intermediate after its last use in this part.</summary>
    private void Run(int[] ids, Tensor[]?[] values, IReadOnlyDictionary<string, HostTensor> data, bool[] preset, HashSet<int>? deferred)
    {
        var graph = _stage.Graph;
        var last = LastUse(ids);
        var keep = _kept ??= Kept();
        foreach (var id in ids)
        {
            var node = graph.Nodes[id];
            foreach (var x in node.Inputs)
                if (values[x.Id] is null)
                {
                    if (!x.IsLeaf) throw new ExecutionException($"stage {_stage.Stage}: '{node.Name}' reads '{x.Name}', which this part of the step does not have");
                    values[x.Id] = _exec.Evaluate(_exec.Program[x.Id], values, data, false);
                }
            values[id] = _exec.Evaluate(_exec.Program[id], values, data, deferred?.Contains(id) == true);
            for (var i = 0; i < node.Inputs.Count; i++)
            {
                var x = node.Inputs[i];
                if (last[x.Id] == id && !preset[x.Id] && !keep.Contains(x.Name) && !_exec.IsPersistent(x.Id) && values[x.Id] is { } v)
                {
                    foreach (var t in v) t.Dispose();
                    values[x.Id] = null; // an input read twice is freed once: the second time it is null
                }
            }
        }
    }

    /// <summary>For every input read by <paramref name="ids"/>, the last of them that reads it; computed once per part (the parts' id arrays are fixed).</summary>
    private Dictionary<int, int> LastUse(int[] ids)
    {
        lock (_lastUse)
        {
            if (_lastUse.TryGetValue(ids, out var known)) return known;
            var last = new Dictionary<int, int>();
            foreach (var id in ids)
                foreach (var x in _stage.Graph.Nodes[id].Inputs) last[x.Id] = id;
            _lastUse[ids] = last;
            return last;
        }
    }

    private HashSet<string> Kept()
    {
        var keep = new HashSet<string>(_stage.Saved, StringComparer.Ordinal);
        keep.UnionWith(_stage.Sent.Select(s => s.Name));
        keep.UnionWith(_stage.Gradients);
        if (_stage.Graph.Loss is { } l) keep.Add(l.Name);
        foreach (var u in _stage.Graph.Updates) keep.Add(u.Value.Name);
        return keep;
    }

    private ShardBundle Take(Tensor[]?[] values, bool[] preset, IEnumerable<string> names)
    {
        var taken = new Dictionary<string, Tensor[]>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var id = _stage.Graph[name].Id;
            if (values[id] is not { } v) continue;
            taken[name] = preset[id] || _exec.IsPersistent(id) ? Copy(v) : v;
            if (!preset[id] && !_exec.IsPersistent(id)) values[id] = null;
        }
        return new ShardBundle(taken);
    }

    /// <summary>Outgoing tensors grouped by destination stage; a tensor also kept elsewhere is copied.</summary>
    private Dictionary<int, ShardBundle> Bundles(Tensor[]?[] values, bool[] preset, bool backward)
    {
        var result = new Dictionary<int, ShardBundle>();
        foreach (var group in _stage.Sent.Where(s => s.Backward == backward).GroupBy(s => s.ToStage))
        {
            var tensors = new Dictionary<string, Tensor[]>(StringComparer.Ordinal);
            foreach (var t in group)
            {
                var node = _stage.Graph[t.Name];
                if (values[node.Id] is null && node.Op == OpKind.Parameter) values[node.Id] = _exec.Evaluate(_exec.Program[node.Id], values, EmptyInputs, false);
                var v = values[node.Id] ?? throw new ExecutionException($"stage {_stage.Stage}: '{t.Name}' for stage {t.ToStage} was not computed");
                tensors[t.Name] = Copy(v);
            }
            result[group.Key] = new ShardBundle(tensors);
        }
        return result;
    }

    private Tensor[] Copy(Tensor[] shards)
    {
        var devices = _exec.MeshDevices;
        var copy = new Tensor[shards.Length];
        for (var r = 0; r < shards.Length; r++)
        {
            copy[r] = devices[r].Allocate(shards[r].Type, shards[r].Shape);
            devices[r].Copy(shards[r], copy[r]);
        }
        return copy;
    }

    /// <summary>Frees what a part computed and did not hand on (received buffers belong to the worker).</summary>
    private void Clear(Tensor[]?[] values, bool[] preset)
    {
        for (var i = 0; i < values.Length; i++)
            if (!preset[i] && !_exec.IsPersistent(i) && values[i] is { } v)
                foreach (var t in v) t.Dispose();
    }

    public void Dispose()
    {
        foreach (var v in _accumulated.Values)
            foreach (var t in v) t.Dispose();
        _accumulated.Clear();
        _exec.Dispose();
    }
}
