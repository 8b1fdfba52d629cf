using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Planner.Graph;
using Alpa.Planner.Intra;
using Alpa.Silo.Execution;
using Alpa.Silo.Execution.Spmd;

namespace Alpa.Silo.Serving;

/// <summary>
/// One pipeline stage of a generation model: a decode program (T = 1) and a prefill program
/// (T = chunk) over the same layers that share weights and key/value caches. Two implementations:
/// one CPU device (<see cref="DeviceStage"/>) and a logical mesh run SPMD (<see cref="MeshStage"/>).
/// The stage pipeline of <see cref="GenerationModel"/> only sees this interface, so the Driver /
/// MeshWorker interpreter of the pipeline branch can replace it.
/// </summary>
public interface IStageProgram : IDisposable
{
    /// <summary>Layers [first, last] of the model this stage runs.</summary>
    (int First, int Last) Layers { get; }
    /// <summary>Devices the stage uses.</summary>
    int Devices { get; }
    /// <summary>One line: layers, devices, how tensors are split.</summary>
    string Describe { get; }
    /// <summary>Names of the parameters the stage holds.</summary>
    IReadOnlyList<string> Parameters { get; }
    /// <summary>Runs one step of the prefill or decode program; returns its outputs (<c>hidden_out</c> or <c>logits</c>).</summary>
    IReadOnlyDictionary<string, HostTensor> Run(bool prefill, IReadOnlyDictionary<string, HostTensor> inputs);
    /// <summary>Overwrites a parameter (trained weights).</summary>
    void Load(string name, HostTensor value);
    /// <summary>Bytes of key/value cache allocated on the device of the stage that holds the most.</summary>
    long KvCacheBytesPerDevice { get; }
}

/// <summary>Builds a stage's programs; the in-process <see cref="GenerationModel"/> and the silos' serving stage grains share it.</summary>
public static class StagePrograms
{
    /// <summary>
    /// The prefill (T = <paramref name="chunk"/>) and decode (T = 1) programs of layers [first, last] with
    /// <paramref name="slots"/> batch slots, on one CPU device or a (1, devices) mesh.
    /// </summary>
    public static IStageProgram Create(Planner.Models.GptSpec spec, int slots, int chunk, (int First, int Last) layers, int devices, ulong seed,
                                       Planner.Cluster.ClusterSpec? cluster = null)
    {
        ArgumentNullException.ThrowIfNull(spec);
        Graph Build(int t) => Planner.Models.GptGeneration.Build(spec, new Planner.Models.GenerationShape { Slots = slots, Chunk = t, FirstLayer = layers.First, LastLayer = layers.Last });
        var (decode, prefill) = (Build(1), Build(chunk));
        return devices == 1 ? new DeviceStage(decode, prefill, layers, seed) : new MeshStage(decode, prefill, layers, GenerationModel.MeshOf(cluster, devices), seed);
    }

    /// <summary>Per work item, the logits row [V] after its last token, from a last stage's <c>logits</c> [slots, t, V].</summary>
    public static float[][] LogitsRows(IReadOnlyDictionary<string, HostTensor> outputs, IReadOnlyList<SlotWork> work, int t, int vocab)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        ArgumentNullException.ThrowIfNull(work);
        var logits = outputs["logits"].Floats!;
        return [.. work.Select(w => logits.AsSpan(((w.Slot * t) + w.Tokens.Length - 1) * vocab, vocab).ToArray())];
    }
}

/// <summary>A stage on one CPU device (<see cref="GraphExecutor"/>).</summary>
public sealed class DeviceStage : IStageProgram
{
    private readonly CpuDevice _device;
    private readonly GraphExecutor _decode, _prefill;

    public DeviceStage(Graph decode, Graph prefill, (int, int) layers, ulong seed, int deviceId = 0)
    {
        _device = new CpuDevice(deviceId);
        _decode = new GraphExecutor(decode, _device, new ExecutorOptions { Seed = seed, Profile = false });
        var shared = decode.Nodes.Where(n => n.Op is OpKind.Parameter or OpKind.State)
                                 .ToDictionary(n => n.Name, n => _decode.PersistentTensor(n.Name), StringComparer.Ordinal);
        _prefill = new GraphExecutor(prefill, _device, new ExecutorOptions { Seed = seed, Profile = false, Shared = shared });
        Layers = layers;
        Parameters = [.. decode.Parameters.Select(p => p.Name)];
    }

    public (int First, int Last) Layers { get; }
    public int Devices => 1;
    public string Describe => $"layers {Layers.First}-{Layers.Last} on 1 CPU device";
    public IReadOnlyList<string> Parameters { get; }

    public IReadOnlyDictionary<string, HostTensor> Run(bool prefill, IReadOnlyDictionary<string, HostTensor> inputs) =>
        (prefill ? _prefill : _decode).Run(inputs).Outputs;

    public void Load(string name, HostTensor value) => _decode.Write(name, value);

    public long KvCacheBytesPerDevice =>
        _decode.Graph.Nodes.Where(n => n.Op == OpKind.State).Sum(n => _decode.PersistentTensor(n.Name).Bytes);

    public void Dispose()
    {
        _prefill.Dispose();
        _decode.Dispose();
        _device.Dispose();
    }
}

/// <summary>
/// A stage on the CPU devices of one logical mesh: the decode program is planned by the intra-op
/// ILP with the key/value caches pinned to split their heads axis over the mesh's second axis (and
/// therefore attention with them); the prefill program is planned with every parameter and cache
/// pinned to the decode plan's specs, so both run on the same shards.
/// </summary>
public sealed class MeshStage : IStageProgram
{
    private readonly SpmdExecutor _decode, _prefill;

    public MeshStage(Graph decode, Graph prefill, (int, int) layers, Planner.Cluster.LogicalMesh mesh, ulong seed)
    {
        var caches = decode.Nodes.Where(n => n.Op == OpKind.State)
            .ToDictionary(n => n.Name, n => (IReadOnlyList<string>)["R", mesh.N1 > 1 && n.Shape[1] % mesh.N1 == 0 ? "S1" : "R", "R", "R"], StringComparer.Ordinal);
        DecodePlan = IntraOpPass.Run(decode, mesh, new IntraOptions { FixedSpecs = caches });
        var pins = new Dictionary<string, IReadOnlyList<string>>(caches, StringComparer.Ordinal);
        foreach (var (name, spec) in DecodePlan.ParameterSpecs) pins[name] = spec;
        var prefillPlan = IntraOpPass.Run(prefill, mesh, new IntraOptions { FixedSpecs = pins });
        _decode = new SpmdExecutor(decode, DecodePlan, seed);
        _prefill = new SpmdExecutor(prefill, prefillPlan, seed, shareWith: _decode);
        var persistent = prefill.Nodes.Count(n => n.Op is OpKind.Parameter or OpKind.State);
        if (_prefill.SharedPersistent != persistent)
            throw new SpmdException($"stage {layers}: the prefill program shares only {_prefill.SharedPersistent} of {persistent} weights and caches with decode");
        Layers = layers;
        Devices = mesh.Devices;
        Mesh = mesh;
        Parameters = [.. decode.Parameters.Select(p => p.Name)];
    }

    /// <summary>The decode program's intra-op plan (heavy-op strategies, parameter specs).</summary>
    public IntraResult DecodePlan { get; }
    public Planner.Cluster.LogicalMesh Mesh { get; }
    public (int First, int Last) Layers { get; }
    public int Devices { get; }
    public IReadOnlyList<string> Parameters { get; }

    public string Describe
    {
        get
        {
            var qkv = DecodePlan.ParameterSpecs.FirstOrDefault(p => p.Key.EndsWith("attn.qkv.weight", StringComparison.Ordinal));
            var scores = DecodePlan.Strategies.FirstOrDefault(p => p.Key.EndsWith("attn.scores", StringComparison.Ordinal));
            var split = qkv.Value is null ? "" : $", qkv weight [{string.Join(", ", qkv.Value)}], caches [R, S1, R, R] (heads split), attention scores '{scores.Value}'";
            return $"layers {Layers.First}-{Layers.Last} on mesh ({Mesh.N0}, {Mesh.N1}){split}";
        }
    }

    public IReadOnlyDictionary<string, HostTensor> Run(bool prefill, IReadOnlyDictionary<string, HostTensor> inputs) =>
        (prefill ? _prefill : _decode).Run(inputs).Outputs;

    public void Load(string name, HostTensor value) => _decode.Write(name, value);

    public long KvCacheBytesPerDevice => _decode.StateBytes.Max();

    public void Dispose()
    {
        _prefill.Dispose();
        _decode.Dispose();
    }
}
