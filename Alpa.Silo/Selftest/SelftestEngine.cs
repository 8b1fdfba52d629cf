using Alpa.Kernels;
using Alpa.Kernels.Cpu;
using Alpa.Kernels.Cuda;
using Alpa.Planner.Graph;
using Alpa.Silo.Execution;

namespace Alpa.Silo.Selftest;

/// <summary>Evaluates a self-test graph on one device: the op's output and the values its parameters were given.</summary>
public abstract class SelftestEngine : IDisposable
{
    /// <summary>Seed of parameter initialization.</summary>
    protected const ulong Seed = 9;

    public abstract string DeviceName { get; }

    public abstract (HostTensor Output, IReadOnlyDictionary<string, HostTensor> Parameters) Evaluate(SelftestCase c);

    public static SelftestEngine Create(SelftestBackend backend) => backend switch
    {
        SelftestBackend.Cpu => new CpuSelftestEngine(),
        _ => new CudaSelftestEngine(),
    };

    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    protected abstract void Dispose(bool disposing);
}

/// <summary>The CPU backend through the graph executor.</summary>
public sealed class CpuSelftestEngine : SelftestEngine
{
    private readonly CpuDevice _device = new();

    public override string DeviceName => $"{_device.Name} ({Environment.ProcessorCount} cores)";

    public override (HostTensor Output, IReadOnlyDictionary<string, HostTensor> Parameters) Evaluate(SelftestCase c)
    {
        using var exec = new GraphExecutor(c.Graph, _device, new ExecutorOptions { Seed = Seed });
        var parameters = c.Graph.Parameters.ToDictionary(p => p.Name, p => exec.Read(p.Name));
        return (exec.Run(c.Inputs).Outputs[c.Node.Name], parameters);
    }

    protected override void Dispose(bool disposing) => _device.Dispose();
}

/// <summary>
/// The CUDA backend: each node of the graph in order through <see cref="CudaOpDispatch"/>. The
/// kernels are compiled when the engine is made, so a missing NVRTC or a compile error shows once.
/// </summary>
public sealed class CudaSelftestEngine : SelftestEngine
{
    private readonly CudaDevice _device;

    public CudaSelftestEngine(int ordinal = 0)
    {
        if (SelftestRunner.CudaUnavailableReason() is { } reason) throw new NativeLibraryException(reason);
        _device = new CudaDevice(ordinal);
        try
        {
            _ = _device.Kernels;
        }
        catch (KernelException)
        {
            _device.Dispose();
            throw;
        }
    }

    public CudaDevice Device => _device;

    public override string DeviceName =>
        $"{_device.Name} ({_device.DeviceName}, sm_{_device.ComputeCapability.Major}{_device.ComputeCapability.Minor})";

    public override (HostTensor Output, IReadOnlyDictionary<string, HostTensor> Parameters) Evaluate(SelftestCase c)
    {
        var tensors = new Tensor?[c.Graph.Nodes.Count];
        var parameters = new Dictionary<string, HostTensor>();
        try
        {
            foreach (var n in c.Graph.Nodes)
            {
                var y = _device.Allocate(n.DType.ToElementType(), n.Shape.AsSpan());
                tensors[n.Id] = y;
                switch (n.Op)
                {
                    case OpKind.Input: _device.CopyFromHost(c.Inputs[n.Name], y); break;
                    case OpKind.State: _device.Clear(y); break;
                    case OpKind.Parameter:
                    {
                        var values = new float[n.Shape.Elements];
                        ParameterInit.Fill(n, Seed, values);
                        if (n.DType == DType.BF16) for (var i = 0; i < values.Length; i++) values[i] = CudaStorage.FromBf16(CudaStorage.ToBf16(values[i]));
                        var host = HostTensor.FromFloats(y.Type, values, n.Shape.AsSpan().ToArray());
                        parameters[n.Name] = host;
                        _device.CopyFromHost(host, y);
                        break;
                    }
                    default: CudaOpDispatch.Run(n, [.. n.Inputs.Select(i => tensors[i.Id]!)], y); break;
                }
            }
            _device.Synchronize();
            return (_device.CopyToHost(tensors[c.Node.Id]!), parameters);
        }
        finally
        {
            foreach (var t in tensors) t?.Dispose();
        }
    }

    protected override void Dispose(bool disposing) => _device.Dispose();
}
