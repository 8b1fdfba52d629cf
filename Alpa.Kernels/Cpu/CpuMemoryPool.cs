using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cpu;

/// <summary>
/// A caching allocator for one CPU device: 64-byte aligned native blocks, kept after release in
/// buckets by size (rounded up to 64 bytes) and handed out again for a request of the same size.
/// A training step allocates the same sizes every step, so after the first step nothing is
/// allocated from the system.
/// </summary>
internal sealed unsafe class CpuMemoryPool : NativeResource
{
    private const int Alignment = 64;
    private readonly Dictionary<long, Stack<nint>> _free = [];
    private readonly Lock _gate = new();
    private long _live, _peak, _reserved, _reuses;

    public static long RoundUp(long bytes) => Math.Max(Alignment, (bytes + Alignment - 1) / Alignment * Alignment);

    public void* Rent(long bytes)
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
                return (void*)stack.Pop();
            }
            _reserved += size;
        }
        return NativeMemory.AlignedAlloc((nuint)size, Alignment);
    }

    public void Return(void* block, long bytes)
    {
        var size = RoundUp(bytes);
        lock (_gate)
        {
            _live -= size;
            if (IsDisposed)
            {
                NativeMemory.AlignedFree(block);
                return;
            }
            if (!_free.TryGetValue(size, out var stack)) _free[size] = stack = new Stack<nint>();
            stack.Push((nint)block);
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

    /// <summary>Frees the cached blocks (live ones are freed when their tensors are disposed).</summary>
    public void Trim()
    {
        lock (_gate)
        {
            foreach (var (size, stack) in _free)
            {
                while (stack.TryPop(out var p))
                {
                    NativeMemory.AlignedFree((void*)p);
                    _reserved -= size;
                }
            }
        }
    }

    protected override void ReleaseNative(bool disposing) => Trim();
}
