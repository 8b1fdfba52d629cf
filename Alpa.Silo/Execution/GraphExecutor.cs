using System.Diagnostics;
using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Kernels.Cpu.Kernels;
using Alpa.Planner.Graph;

namespace Alpa.Silo.Execution;

/// <summary>
/// Runs a <see cref="Graph"/> (forward or training) on one device. Parameters and states live in
/// persistent buffers (parameters initialized from <see cref="ExecutorOptions.Seed"/>, states
/// zero); every other tensor is allocated from the device pool when its node runs and freed after
/// its last use (<see cref="Graph.LastUse"/>), unless it is an output, the loss or an update value.
/// After a step each update's value is copied into its target.
/// </summary>
public sealed class GraphExecutor : IDisposable
{
    private readonly Graph _graph;
    private readonly Device _device;
    private readonly ExecutorOptions _options;
    private readonly Dictionary<int, Tensor> _persistent = [];
    private readonly bool[] _keep;
    private readonly HashSet<int> _borrowed = [];

    public GraphExecutor(Graph graph, Device device, ExecutorOptions? options = null)
    {
        _graph = graph;
        _device = device;
        _options = options ?? new ExecutorOptions();
        _keep = new bool[graph.Nodes.Count];
        foreach (var o in graph.Outputs) _keep[o.Id] = true;
        if (graph.Loss is { } loss) _keep[loss.Id] = true;
        foreach (var u in graph.Updates) _keep[u.Value.Id] = true;
        foreach (var n in graph.Nodes)
        {
            if (n.Op is not (OpKind.Parameter or OpKind.State)) continue;
            if (_options.Shared?.TryGetValue(n.Name, out var shared) == true)
            {
                if (!shared.Shape.SequenceEqual(n.Shape.AsSpan()))
                    throw new ExecutionException($"shared '{n.Name}' has shape [{string.Join(", ", shared.Shape.ToArray())}], the graph wants {n.Shape}") { Field = n.Name };
                _persistent[n.Id] = shared;
                _borrowed.Add(n.Id);
                continue;
            }
            var t = device.Allocate(n.DType.ToElementType(), n.Shape.AsSpan());
            if (n.DType == DType.I32) t.Ints().Clear();
            else if (n.Op == OpKind.State) t.Floats().Clear();
            else
            {
                ParameterInit.Fill(n, _options.Seed, t.Floats());
                Elementwise.RoundTo(t.Type, t.Floats(), t.Floats());
            }
            _persistent[n.Id] = t;
        }
    }

    public Graph Graph => _graph;
    public Device Device => _device;

    /// <summary>The current value of a parameter or state, copied to the host.</summary>
    public HostTensor Read(string name) => _device.CopyToHost(Persistent(name));

    /// <summary>The device tensor of a parameter or state (to share it with another program, see <see cref="ExecutorOptions.Shared"/>).</summary>
    public Tensor PersistentTensor(string name) => Persistent(name);

    /// <summary>Overwrites a parameter or state (e.g. from a checkpoint).</summary>
    public void Write(string name, HostTensor value)
    {
        var t = Persistent(name);
        if (!value.Shape.AsSpan().SequenceEqual(t.Shape))
            throw new ExecutionException($"'{name}' has shape [{string.Join(", ", t.Shape.ToArray())}], the value has [{string.Join(", ", value.Shape)}]") { Field = name };
        _device.CopyFromHost(value, t);
    }

    /// <summary>Runs every node once with the given inputs (by input node name) and applies the updates.</summary>
    public StepResult Run(IReadOnlyDictionary<string, HostTensor> inputs)
    {
        var nodes = _graph.Nodes;
        var lastUse = _graph.LastUse;
        var values = new Tensor?[nodes.Count];
        var seconds = new double[nodes.Count];
        long total = 0;
        _device.ResetPeak();
        var start = Stopwatch.GetTimestamp();
        try
        {
            foreach (var node in nodes)
            {
                var t0 = _options.Profile ? Stopwatch.GetTimestamp() : 0;
                values[node.Id] = Evaluate(node, values, inputs);
                if (_options.Profile) seconds[node.Id] = Stopwatch.GetElapsedTime(t0).TotalSeconds;
                total += node.OutputBytes;
                foreach (var input in node.Inputs) Release(input.Id, node.Id, lastUse, values);
                Release(node.Id, node.Id, lastUse, values);
            }
            _device.Synchronize();
            var result = Collect(values, seconds, total, Stopwatch.GetElapsedTime(start).TotalSeconds);
            ApplyUpdates(values);
            return result;
        }
        finally
        {
            for (var i = 0; i < values.Length; i++)
                if (!_persistent.ContainsKey(i)) values[i]?.Dispose();
        }
    }

    private Tensor Evaluate(Node node, Tensor?[] values, IReadOnlyDictionary<string, HostTensor> inputs)
    {
        switch (node.Op)
        {
            case OpKind.Parameter or OpKind.State:
                return _persistent[node.Id];
            case OpKind.Input:
                return _device.Upload(CheckInput(node, inputs));
            case OpKind.Reshape:
                return values[node.Inputs[0].Id]!.View(node.Shape.AsSpan());
        }
        var args = new Tensor[node.Inputs.Count];
        for (var i = 0; i < args.Length; i++) args[i] = values[node.Inputs[i].Id]!;
        var output = _device.Allocate(node.DType.ToElementType(), node.Shape.AsSpan());
        try
        {
            _device.Run(() => OpDispatch.Run(node, args, output));
        }
        catch
        {
            output.Dispose();
            throw;
        }
        return output;
    }

    private void Release(int id, int at, IReadOnlyList<int> lastUse, Tensor?[] values)
    {
        if (lastUse[id] != at || _keep[id] || _persistent.ContainsKey(id)) return;
        values[id]?.Dispose();
        values[id] = null;
    }

    private StepResult Collect(Tensor?[] values, double[] seconds, long total, double stepSeconds)
    {
        var outputs = new Dictionary<string, HostTensor>(StringComparer.Ordinal);
        foreach (var o in _graph.Outputs) outputs[o.Name] = _device.CopyToHost(values[o.Id]!);
        float? loss = _graph.Loss is { } l ? values[l.Id]!.Floats()[0] : null;
        var byKind = _graph.Nodes
            .GroupBy(n => n.Op)
            .Select(g => new OpKindTime { Op = g.Key, Count = g.Count(), Seconds = g.Sum(n => seconds[n.Id]), Flops = g.Sum(n => n.Flops) })
            .OrderByDescending(k => k.Seconds).ThenBy(k => k.Op)
            .ToList();
        return new StepResult
        {
            Loss = loss,
            Outputs = outputs,
            NodeSeconds = seconds,
            ByOpKind = byKind,
            StepSeconds = stepSeconds,
            PeakLiveBytes = _device.Memory.PeakLiveBytes,
            TotalTensorBytes = total,
        };
    }

    private void ApplyUpdates(Tensor?[] values)
    {
        foreach (var u in _graph.Updates)
        {
            var target = _persistent[u.Target.Id];
            var value = values[u.Value.Id]!;
            if (!ReferenceEquals(target.Buffer, value.Buffer)) _device.Copy(value, target);
        }
    }

    private static HostTensor CheckInput(Node node, IReadOnlyDictionary<string, HostTensor> inputs)
    {
        if (!inputs.TryGetValue(node.Name, out var value))
            throw new ExecutionException($"input '{node.Name}' ({node.DType.ToJsonName()}{node.Shape}) was not given") { Field = node.Name };
        if (!value.Shape.AsSpan().SequenceEqual(node.Shape.AsSpan()) || value.Type.IsFloat() != node.DType.IsFloat())
            throw new ExecutionException($"input '{node.Name}' must be {node.DType.ToJsonName()}{node.Shape}, got {value.Type}[{string.Join(", ", value.Shape)}]") { Field = node.Name };
        return value;
    }

    private Tensor Persistent(string name)
    {
        if (!_graph.TryGet(name, out var node) || !_persistent.TryGetValue(node.Id, out var t))
            throw new ExecutionException($"the graph has no parameter or state named '{name}'") { Field = name };
        return t;
    }

    public void Dispose()
    {
        foreach (var (id, t) in _persistent)
            if (!_borrowed.Contains(id)) t.Dispose();
        _persistent.Clear();
    }
}
