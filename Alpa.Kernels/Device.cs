namespace Alpa.Kernels;

/// <summary>Memory use of one device, in bytes.</summary>
public sealed record DeviceMemoryStats
{
    /// <summary>Bytes held by live tensors now.</summary>
    public long LiveBytes { get; init; }
    /// <summary>Largest <see cref="LiveBytes"/> since the device was created or <see cref="Device.ResetPeak"/>.</summary>
    public long PeakLiveBytes { get; init; }
    /// <summary>Bytes the pool holds from the system (live + cached for reuse).</summary>
    public long ReservedBytes { get; init; }
    /// <summary>Allocations served from the cache instead of the system.</summary>
    public long Reuses { get; init; }
}

/// <summary>
/// One compute device of a backend: allocates tensors from its pool, copies between host and
/// device, runs kernels and synchronizes. Backends mirror each other (<c>Cpu/CpuDevice</c>,
/// later <c>Cuda/CudaDevice</c>); several devices may live in one process.
/// </summary>
public abstract class Device : NativeResource
{
    /// <summary>Human-readable name, e.g. <c>cpu:1</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Index of the device within its backend in this process.</summary>
    public abstract int Ordinal { get; }

    /// <summary>A new tensor of <paramref name="shape"/>; its contents are undefined until written.</summary>
    public abstract Tensor Allocate(ElementType type, ReadOnlySpan<long> shape);

    /// <summary>Copies host data into a device tensor of the same element count and storage.</summary>
    public abstract void CopyFromHost(HostTensor source, Tensor destination);

    /// <summary>Copies a device tensor to a new host tensor.</summary>
    public abstract HostTensor CopyToHost(Tensor source);

    /// <summary>Copies between two tensors of this device with the same element count.</summary>
    public abstract void Copy(Tensor source, Tensor destination);

    /// <summary>Runs a kernel on this device's stream. On the CPU it runs on the calling thread.</summary>
    public abstract void Run(Action kernel);

    /// <summary>
    /// Runs <paramref name="kernel"/> with <paramref name="state"/> as <see cref="Run(Action)"/> does; a static lambda and a
    /// struct state allocate nothing (the executor calls this once per node and device).
    /// </summary>
    public virtual void Run<TState>(Action<TState> kernel, TState state)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        Run(() => kernel(state));
    }

    /// <summary>Waits until every kernel and copy issued so far has finished.</summary>
    public abstract void Synchronize();

    public abstract DeviceMemoryStats Memory { get; }

    /// <summary>Restarts <see cref="DeviceMemoryStats.PeakLiveBytes"/> from the current live bytes.</summary>
    public abstract void ResetPeak();

    /// <summary>Allocates and uploads in one call.</summary>
    public Tensor Upload(HostTensor source)
    {
        var t = Allocate(source.Type, source.Shape);
        CopyFromHost(source, t);
        return t;
    }

    public override string ToString() => Name;
}

/// <summary>
/// Device memory shared by one or more tensors (views); reference counted, returned to its
/// device's pool when the last tensor using it is disposed.
/// </summary>
public abstract class DeviceBuffer : NativeResource
{
    private int _references = 1;

    protected DeviceBuffer(long bytes) => Bytes = bytes;

    public long Bytes { get; }

    internal void Retain()
    {
        ThrowIfDisposed();
        Interlocked.Increment(ref _references);
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0) Dispose();
    }
}
