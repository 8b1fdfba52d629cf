using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cpu;

/// <summary>
/// A logical CPU device. Several can live in one process (a 2×2 mesh on one machine); they share
/// the machine's cores: element-wise kernels run on the thread that calls <see cref="Run"/>, and
/// GEMMs go through <see cref="CpuBlas"/>, which serializes them (see its threading policy).
/// </summary>
public sealed unsafe class CpuDevice : Device
{
    private static int s_active;
    private readonly CpuMemoryPool _pool = new();

    public CpuDevice(int ordinal = 0)
    {
        if (ordinal < 0) throw new KernelException($"CPU device ordinal must be ≥ 0, got {ordinal}");
        Ordinal = ordinal;
        Interlocked.Increment(ref s_active);
    }

    /// <summary>CPU devices alive in this process (they share the cores).</summary>
    public static int ActiveDevices => Volatile.Read(ref s_active);

    public override string Name => $"cpu:{Ordinal}";
    public override int Ordinal { get; }

    public override Tensor Allocate(ElementType type, ReadOnlySpan<long> shape)
    {
        ThrowIfDisposed();
        long n = 1;
        foreach (var d in shape) n *= d;
        if (n > int.MaxValue) throw new KernelException($"a CPU tensor holds at most {int.MaxValue} elements, [{string.Join(", ", shape.ToArray())}] has {n}");
        return new Tensor(this, new CpuBuffer(_pool, n * type.StorageSize()), type, shape);
    }

    public override void CopyFromHost(HostTensor source, Tensor destination)
    {
        CheckSame(source.Elements, source.Type, destination);
        if (source.Floats is { } f) f.CopyTo(destination.Floats());
        else source.Ints!.CopyTo(destination.Ints());
    }

    public override HostTensor CopyToHost(Tensor source)
    {
        var shape = source.Shape.ToArray();
        return source.Type.IsFloat()
            ? HostTensor.FromFloats(source.Type, source.Floats().ToArray(), shape)
            : HostTensor.FromInts(source.Ints().ToArray(), shape);
    }

    public override void Copy(Tensor source, Tensor destination)
    {
        CheckSame(source.Elements, source.Type, destination);
        Buffer.MemoryCopy(source.Address(), destination.Address(), destination.Bytes, source.Bytes);
    }

    public override void Run(Action kernel)
    {
        ThrowIfDisposed();
        kernel();
    }

    public override void Run<TState>(Action<TState> kernel, TState state)
    {
        ArgumentNullException.ThrowIfNull(kernel);
        ThrowIfDisposed();
        kernel(state);
    }

    /// <summary>Kernels run synchronously on the CPU: nothing to wait for.</summary>
    public override void Synchronize() => ThrowIfDisposed();

    public override DeviceMemoryStats Memory => _pool.Stats;

    public override void ResetPeak() => _pool.ResetPeak();

    /// <summary>Returns cached blocks to the system.</summary>
    public void TrimPool() => _pool.Trim();

    protected override void ReleaseNative(bool disposing)
    {
        Interlocked.Decrement(ref s_active);
        _pool.Dispose();
    }

    private static void CheckSame(long elements, ElementType type, Tensor destination)
    {
        if (elements != destination.Elements || type.IsFloat() != destination.Type.IsFloat())
            throw new KernelException($"copy of {elements} {type} elements into {destination}: sizes or storage differ");
    }
}

/// <summary>Span access to CPU tensors.</summary>
public static unsafe class CpuTensorExtensions
{
    public static void* Address(this Tensor t) =>
        t.Buffer is CpuBuffer b ? b.Pointer : throw new KernelException($"{t} is not a CPU tensor");

    /// <summary>The f32 storage of a float tensor (half types included).</summary>
    public static Span<float> Floats(this Tensor t)
    {
        if (!t.Type.IsFloat()) throw new KernelException($"{t} is not a float tensor");
        return new Span<float>(t.Address(), (int)t.Elements);
    }

    public static Span<int> Ints(this Tensor t)
    {
        if (t.Type != ElementType.I32) throw new KernelException($"{t} is not an i32 tensor");
        return new Span<int>(t.Address(), (int)t.Elements);
    }

    /// <summary>Fills the tensor's storage with zero bits.</summary>
    public static void Clear(this Tensor t) => NativeMemory.Clear(t.Address(), (nuint)t.Bytes);
}
