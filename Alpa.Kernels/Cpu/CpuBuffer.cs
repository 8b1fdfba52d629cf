namespace Alpa.Kernels.Cpu;

/// <summary>A block of a CPU device's pool.</summary>
public sealed unsafe class CpuBuffer : DeviceBuffer
{
    private readonly CpuMemoryPool _pool;
    private void* _pointer;

    internal CpuBuffer(CpuMemoryPool pool, long bytes) : base(bytes)
    {
        _pool = pool;
        _pointer = pool.Rent(bytes);
    }

    /// <summary>Address of the first byte (64-byte aligned).</summary>
    public void* Pointer
    {
        get
        {
            ThrowIfDisposed();
            return _pointer;
        }
    }

    protected override void ReleaseNative(bool disposing)
    {
        _pool.Return(_pointer, Bytes);
        _pointer = null;
    }
}
