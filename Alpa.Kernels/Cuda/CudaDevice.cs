using System.Runtime.InteropServices;
using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>Options of a CUDA device.</summary>
public sealed record CudaDeviceOptions
{
    /// <summary>Lets f32 matrix products use TF32 tensor cores (about 1e-3 relative error); off by default.</summary>
    public bool AllowTf32 { get; init; }
}

/// <summary>
/// One NVIDIA GPU: its primary context, one stream on which every copy and kernel runs in order,
/// a caching memory pool, the NVRTC-compiled kernels and a cuBLAS handle. Storage: f32, i32 and
/// f16 (kept as f32, as on the CPU) use 4 bytes per element, bf16 2 bytes.
/// </summary>
public sealed unsafe class CudaDevice : Device
{
    private readonly nint _context;
    private readonly int _device;
    private readonly CudaMemoryPool _pool;
    private readonly Lazy<CudaModule> _module;
    private readonly Lazy<CudaBlas> _blas;

    public CudaDevice(int ordinal = 0, CudaDeviceOptions? options = null)
    {
        var api = CudaDriver.Api;
        var count = CudaDriver.DeviceCount();
        if (ordinal < 0 || ordinal >= count) throw new KernelException($"CUDA device ordinal {ordinal} does not exist: this machine has {count} CUDA device(s)");
        Ordinal = ordinal;
        Options = options ?? new CudaDeviceOptions();
        int device;
        CudaStatus.ThrowIfFailed(api.DeviceGet(&device, ordinal));
        _device = device;
        nint context;
        CudaStatus.ThrowIfFailed(api.DevicePrimaryCtxRetain(&context, device));
        _context = context;
        MakeCurrent();
        ComputeCapability = (Attribute(CuDeviceAttribute.ComputeCapabilityMajor), Attribute(CuDeviceAttribute.ComputeCapabilityMinor));
        Multiprocessors = Attribute(CuDeviceAttribute.MultiprocessorCount);
        var name = stackalloc byte[256];
        CudaStatus.ThrowIfFailed(api.DeviceGetName(name, 256, device));
        DeviceName = Marshal.PtrToStringUTF8((nint)name) ?? "";
        nuint total;
        CudaStatus.ThrowIfFailed(api.DeviceTotalMem(&total, device));
        TotalMemory = (long)total;
        Stream = new CudaStream();
        _pool = new CudaMemoryPool(this);
        _module = new Lazy<CudaModule>(() => new CudaModule(this));
        _blas = new Lazy<CudaBlas>(() => new CudaBlas(this));
    }

    /// <summary>CUDA devices on this machine; throws <see cref="NativeLibraryException"/> when there is no driver.</summary>
    public static int Count() => CudaDriver.DeviceCount();

    public override string Name => $"cuda:{Ordinal}";
    public override int Ordinal { get; }
    public CudaDeviceOptions Options { get; }

    /// <summary>The GPU's product name, e.g. <c>NVIDIA H100 80GB HBM3</c>.</summary>
    public string DeviceName { get; }
    public (int Major, int Minor) ComputeCapability { get; }
    public int Multiprocessors { get; }
    public long TotalMemory { get; }
    public CudaStream Stream { get; }

    /// <summary>The backend's kernels, compiled (once per process) and loaded on first use.</summary>
    public CudaModule Kernels => _module.Value;

    /// <summary>cuBLAS bound to this device's stream, created on first use.</summary>
    public CudaBlas Blas => _blas.Value;

    /// <summary>Bytes per element of a type on this backend.</summary>
    public static int StorageSize(ElementType type) => type == ElementType.BF16 ? 2 : 4;

    /// <summary>Makes this device's context current on the calling thread.</summary>
    public void MakeCurrent()
    {
        ThrowIfDisposed();
        CudaStatus.ThrowIfFailed(CudaDriver.Api.CtxSetCurrent(_context));
    }

    public override Tensor Allocate(ElementType type, ReadOnlySpan<long> shape)
    {
        ThrowIfDisposed();
        long n = 1;
        foreach (var d in shape) n *= d;
        return new Tensor(this, new CudaBuffer(_pool, n * StorageSize(type)), type, shape);
    }

    public override void CopyFromHost(HostTensor source, Tensor destination)
    {
        CheckSame(source.Elements, source.Type, destination);
        var bytes = CudaStorage.Encode(source, destination.Type);
        MakeCurrent();
        fixed (byte* p = bytes)
        {
            CudaStatus.ThrowIfFailed(CudaDriver.Api.MemcpyHtoDAsync(destination.DevicePointer(), p, (nuint)bytes.Length, Stream.Handle));
            Stream.Synchronize();
        }
    }

    public override HostTensor CopyToHost(Tensor source)
    {
        var bytes = new byte[source.Elements * StorageSize(source.Type)];
        MakeCurrent();
        fixed (byte* p = bytes)
        {
            CudaStatus.ThrowIfFailed(CudaDriver.Api.MemcpyDtoHAsync(p, source.DevicePointer(), (nuint)bytes.Length, Stream.Handle));
            Stream.Synchronize();
        }
        return CudaStorage.Decode(bytes, source.Type, source.Shape.ToArray());
    }

    public override void Copy(Tensor source, Tensor destination)
    {
        if (source.Elements != destination.Elements || StorageSize(source.Type) != StorageSize(destination.Type))
            throw new KernelException($"copy of {source} into {destination}: sizes or storage differ");
        MakeCurrent();
        CudaStatus.ThrowIfFailed(CudaDriver.Api.MemcpyDtoDAsync(destination.DevicePointer(), source.DevicePointer(),
                                                                (nuint)(source.Elements * StorageSize(source.Type)), Stream.Handle));
    }

    /// <summary>Fills a tensor's storage with zero bits, on the stream.</summary>
    public void Clear(Tensor t)
    {
        MakeCurrent();
        CudaStatus.ThrowIfFailed(CudaDriver.Api.MemsetD8Async(t.DevicePointer(), 0, (nuint)(t.Elements * StorageSize(t.Type)), Stream.Handle));
    }

    /// <summary>Makes the context current and runs <paramref name="kernel"/>, which enqueues work on <see cref="Stream"/>.</summary>
    public override void Run(Action kernel)
    {
        MakeCurrent();
        kernel();
    }

    public override void Run<TState>(Action<TState> kernel, TState state)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        MakeCurrent();
        kernel(state);
    }

    public override void Synchronize()
    {
        MakeCurrent();
        Stream.Synchronize();
    }

    /// <summary>Waits for the stream without the disposed check: the pool frees its blocks during <see cref="NativeResource.Dispose"/>.</summary>
    internal void SynchronizeForRelease()
    {
        CudaStatus.ThrowIfFailed(CudaDriver.Api.CtxSetCurrent(_context));
        CudaStatus.ThrowIfFailed(CudaDriver.Api.StreamSynchronize(Stream.Handle));
    }

    public override DeviceMemoryStats Memory => _pool.Stats;
    public override void ResetPeak() => _pool.ResetPeak();

    /// <summary>Returns cached blocks to the driver.</summary>
    public void TrimPool() => _pool.Trim();

    public CudaEvent CreateEvent()
    {
        MakeCurrent();
        return new CudaEvent();
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (!disposing) return;
        SynchronizeForRelease();
        if (_blas.IsValueCreated) _blas.Value.Dispose();
        if (_module.IsValueCreated) _module.Value.Dispose();
        _pool.Dispose();
        Stream.Dispose();
        CudaStatus.ThrowIfFailed(CudaDriver.Api.DevicePrimaryCtxRelease(_device));
    }

    private int Attribute(CuDeviceAttribute attribute)
    {
        int value;
        CudaStatus.ThrowIfFailed(CudaDriver.Api.DeviceGetAttribute(&value, attribute, _device));
        return value;
    }

    private static void CheckSame(long elements, ElementType type, Tensor destination)
    {
        if (elements != destination.Elements || type.IsFloat() != destination.Type.IsFloat())
            throw new KernelException($"copy of {elements} {type} elements into {destination}: sizes or storage differ");
    }
}

/// <summary>Device pointers of CUDA tensors.</summary>
public static class CudaTensorExtensions
{
    public static ulong DevicePointer(this Tensor t) =>
        t.Buffer is CudaBuffer b ? b.Pointer : throw new KernelException($"{t} is not a CUDA tensor");

    /// <summary>The storage code a kernel receives with the tensor (see <see cref="Kernels.CudaSources"/>).</summary>
    public static int StorageCode(this Tensor t) => t.Type switch
    {
        ElementType.BF16 => Kernels.CudaSources.BF16,
        ElementType.I32 => Kernels.CudaSources.I32,
        ElementType.F16 => Kernels.CudaSources.F16,
        _ => Kernels.CudaSources.F32,
    };
}
