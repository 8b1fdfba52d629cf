using System.Buffers;
using Alpa.Kernels;
using Alpa.Kernels.Cpu;

namespace Alpa.Silo.Execution.Collectives;

/// <summary>
/// <see cref="Memory{T}"/> over a CPU tensor's native storage, so that sockets read into and write from
/// the tensor without a staging copy. Valid while the tensor is alive (its storage never moves).
/// </summary>
internal sealed unsafe class TensorMemory(Tensor tensor) : MemoryManager<byte>
{
    private readonly byte* _pointer = (byte*)tensor.Address();
    private readonly int _length = checked((int)tensor.Bytes);

    public static Memory<byte> Of(Tensor tensor) => new TensorMemory(tensor).Memory;

    public override Span<byte> GetSpan() => new(_pointer, _length);

    public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

    public override void Unpin()
    {
        // Native memory never moves.
    }

    protected override void Dispose(bool disposing)
    {
        // The tensor owns the storage.
    }
}
