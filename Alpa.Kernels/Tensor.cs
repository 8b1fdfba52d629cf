namespace Alpa.Kernels;

/// <summary>
/// A dense row-major tensor on a device. Several tensors may share one buffer (reshape views);
/// disposing a tensor releases its reference, and the memory goes back to the pool with the last.
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly long[] _shape;
    private bool _disposed;

    internal Tensor(Device device, DeviceBuffer buffer, ElementType type, ReadOnlySpan<long> shape)
    {
        Device = device;
        Buffer = buffer;
        Type = type;
        _shape = shape.ToArray();
        long n = 1;
        foreach (var d in _shape)
        {
            if (d < 0) throw new KernelException($"shape [{string.Join(", ", _shape)}] has a negative dimension");
            n *= d;
        }
        Elements = n;
    }

    private Tensor(Device device, DeviceBuffer buffer, ElementType type, long[] sharedShape, long elements)
    {
        Device = device;
        Buffer = buffer;
        Type = type;
        _shape = sharedShape;
        Elements = elements;
    }

    public Device Device { get; }
    public DeviceBuffer Buffer { get; }
    public ElementType Type { get; }
    public ReadOnlySpan<long> Shape => _shape;
    public int Rank => _shape.Length;
    public long Elements { get; }
    public long Bytes => Elements * Type.StorageSize();

    /// <summary>A tensor with the same elements and a new shape, sharing this buffer.</summary>
    public Tensor View(ReadOnlySpan<long> shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // The same shape shares this tensor's (never written) shape array.
        var view = shape.SequenceEqual(_shape) ? new Tensor(Device, Buffer, Type, _shape, Elements) : new Tensor(Device, Buffer, Type, shape);
        if (view.Elements != Elements)
            throw new KernelException($"cannot view [{string.Join(", ", _shape)}] as [{string.Join(", ", shape.ToArray())}]: element counts differ");
        Buffer.Retain();
        return view;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Buffer.Release();
    }

    public override string ToString() => $"{Type}[{string.Join(", ", _shape)}] on {Device}";
}
