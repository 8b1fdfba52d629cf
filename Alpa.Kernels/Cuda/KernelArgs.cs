using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cuda;

/// <summary>
/// The <c>kernelParams</c> of one launch: each argument is copied into native memory (8-byte
/// aligned) and an array points at each copy. cuLaunchKernel copies the values, so the block
/// can be freed right after the launch.
/// </summary>
public sealed unsafe class KernelArgs : IDisposable
{
    private const int Capacity = 2048, MaxArgs = 40;
    private readonly byte* _values = (byte*)NativeMemory.AlignedAlloc(Capacity, 16);
    private readonly void** _pointers = (void**)NativeMemory.Alloc(MaxArgs, (nuint)sizeof(void*));
    private int _offset, _count;
    private bool _disposed;

    public int Count => _count;
    internal void** Pointers => _pointers;

    public KernelArgs Add<T>(T value) where T : unmanaged
    {
        var size = sizeof(T);
        if (_count == MaxArgs || _offset + size > Capacity) throw new KernelException($"a kernel launch takes at most {MaxArgs} arguments of {Capacity} bytes");
        *(T*)(_values + _offset) = value;
        _pointers[_count++] = _values + _offset;
        _offset += (size + 7) / 8 * 8;
        return this;
    }

    /// <summary>The bytes of argument <paramref name="index"/> (for tests).</summary>
    public ReadOnlySpan<byte> Argument(int index, int size) => new(_pointers[index], size);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        NativeMemory.AlignedFree(_values);
        NativeMemory.Free(_pointers);
    }
}
