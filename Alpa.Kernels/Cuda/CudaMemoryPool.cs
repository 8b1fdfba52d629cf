using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>
/// Caching allocator of one CUDA device: blocks are kept by rounded size and reused. All work of
/// a device runs on its one stream, so a block returned here may be handed out again at once:
/// later kernels that use it are ordered after the earlier ones that read it.
/// </summary>
internal sealed unsafe class CudaMemoryPool(CudaDevice device) : NativeResource
{
    private const int Granularity = 512;
    private readonly Dictionary<long, Stack<ulong>> _free = [];
    private readonly Lock _gate = new();
    private long _live, _peak, _reserved, _reuses;

    /// <summary>Bytes actually allocated for a request: a multiple of 512, at least 512.</summary>
    public static long RoundUp(long bytes) => Math.Max(Granularity, (bytes + Granularity - 1) / Granularity * Granularity);

    public ulong Rent(long bytes)
    {
        var size = RoundUp(bytes);
        lock (_gate)
        {
            ThrowIfDisposed();
            _live += size;
            _peak = Math.Max(_peak, _live);
            if (_free.TryGetValue(size, out var stack) && stack.Count > 0)
            {
                _reuses++;
                return stack.Pop();
            }
            _reserved += size;
        }
        device.MakeCurrent();
        ulong pointer;
        var status = CudaDriver.Api.MemAlloc(&pointer, (nuint)size);
        if (status == CuResult.OutOfMemory)
        {
            Trim();
            CudaStatus.ThrowIfFailed(CudaDriver.Api.MemAlloc(&pointer, (nuint)size));
        }
        else CudaStatus.ThrowIfFailed(status);
        return pointer;
    }

    public void Return(ulong block, long bytes)
    {
        var size = RoundUp(bytes);
        lock (_gate)
        {
            _live -= size;
            if (IsDisposed) return;
            if (!_free.TryGetValue(size, out var stack)) _free[size] = stack = new Stack<ulong>();
            stack.Push(block);
        }
    }

    public DeviceMemoryStats Stats
    {
        get
        {
            lock (_gate) return new DeviceMemoryStats { LiveBytes = _live, PeakLiveBytes = _peak, ReservedBytes = _reserved, Reuses = _reuses };
        }
    }

    public void ResetPeak()
    {
        lock (_gate) _peak = _live;
    }

    /// <summary>Frees the cached blocks (after the stream has finished with them).</summary>
    public void Trim()
    {
        device.SynchronizeForRelease();
        lock (_gate)
        {
            foreach (var (size, stack) in _free)
            {
                while (stack.TryPop(out var p))
                {
                    CudaStatus.ThrowIfFailed(CudaDriver.Api.MemFree(p));
                    _reserved -= size;
                }
            }
        }
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (disposing) Trim();
    }
}

/// <summary>A block of a CUDA device's pool.</summary>
public sealed class CudaBuffer : DeviceBuffer
{
    private readonly CudaMemoryPool _pool;
    private ulong _pointer;

    internal CudaBuffer(CudaMemoryPool pool, long bytes) : base(bytes)
    {
        _pool = pool;
        _pointer = pool.Rent(bytes);
    }

    /// <summary>The device address (CUdeviceptr) of the first byte.</summary>
    public ulong Pointer
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
        _pointer = 0;
    }
}
