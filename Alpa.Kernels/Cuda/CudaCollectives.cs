using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>
/// An NCCL communicator: this device's rank in a group of <see cref="Ranks"/> GPUs (one process
/// or several; the ranks share the unique id from <see cref="NewUniqueId"/>). Collectives are
/// enqueued on the device's stream; counts are in elements of the tensors' type.
/// </summary>
public sealed unsafe class NcclCommunicator : NativeResource
{
    private readonly CudaDevice _device;
    private readonly nint _comm;

    public NcclCommunicator(CudaDevice device, int ranks, NcclUniqueId id, int rank)
    {
        if (rank < 0 || rank >= ranks) throw new KernelException($"NCCL rank {rank} is outside [0, {ranks})");
        _device = device;
        Ranks = ranks;
        Rank = rank;
        device.MakeCurrent();
        nint comm;
        CudaStatus.ThrowIfFailed(Nccl.Api.CommInitRank(&comm, ranks, id, rank));
        _comm = comm;
    }

    public int Ranks { get; }
    public int Rank { get; }

    /// <summary>A new unique id; rank 0 makes it and sends it to the others.</summary>
    public static NcclUniqueId NewUniqueId()
    {
        NcclUniqueId id;
        CudaStatus.ThrowIfFailed(Nccl.Api.GetUniqueId(&id));
        return id;
    }

    /// <summary>The ncclDataType_t of a tensor type.</summary>
    public static int DataType(ElementType type) => type switch
    {
        ElementType.BF16 => Nccl.Bfloat16,
        ElementType.I32 => Nccl.Int32,
        _ => Nccl.Float32,
    };

    /// <summary>recv = Σ over ranks of send (same element count).</summary>
    public void AllReduce(Tensor send, Tensor recv)
    {
        Check(send, recv, send.Elements);
        CudaStatus.ThrowIfFailed(Nccl.Api.AllReduce(send.DevicePointer(), recv.DevicePointer(), (nuint)send.Elements,
                                                    DataType(send.Type), Nccl.Sum, _comm, _device.Stream.Handle));
    }

    /// <summary>recv (Ranks × send elements) = the sends of every rank, in rank order.</summary>
    public void AllGather(Tensor send, Tensor recv)
    {
        Check(send, recv, send.Elements * Ranks);
        CudaStatus.ThrowIfFailed(Nccl.Api.AllGather(send.DevicePointer(), recv.DevicePointer(), (nuint)send.Elements,
                                                    DataType(send.Type), _comm, _device.Stream.Handle));
    }

    /// <summary>recv (send elements / Ranks) = this rank's block of the sum over ranks.</summary>
    public void ReduceScatter(Tensor send, Tensor recv)
    {
        Check(send, recv, send.Elements / Ranks);
        CudaStatus.ThrowIfFailed(Nccl.Api.ReduceScatter(send.DevicePointer(), recv.DevicePointer(), (nuint)recv.Elements,
                                                        DataType(send.Type), Nccl.Sum, _comm, _device.Stream.Handle));
    }

    public void Send(Tensor tensor, int peer)
    {
        _device.MakeCurrent();
        CudaStatus.ThrowIfFailed(Nccl.Api.Send(tensor.DevicePointer(), (nuint)tensor.Elements, DataType(tensor.Type), peer, _comm, _device.Stream.Handle));
    }

    public void Recv(Tensor tensor, int peer)
    {
        _device.MakeCurrent();
        CudaStatus.ThrowIfFailed(Nccl.Api.Recv(tensor.DevicePointer(), (nuint)tensor.Elements, DataType(tensor.Type), peer, _comm, _device.Stream.Handle));
    }

    /// <summary>
    /// All-to-all: block r of send (elements / Ranks each) goes to rank r, and block r of recv
    /// comes from rank r: one grouped call of sends and receives.
    /// </summary>
    public void AllToAll(Tensor send, Tensor recv)
    {
        Check(send, recv, send.Elements);
        if (send.Elements % Ranks != 0) throw new KernelException($"all-to-all of {send.Elements} elements over {Ranks} ranks: not divisible");
        var chunk = send.Elements / Ranks;
        var bytes = (ulong)(chunk * CudaDevice.StorageSize(send.Type));
        var type = DataType(send.Type);
        CudaStatus.ThrowIfFailed(Nccl.Api.GroupStart());
        try
        {
            for (var r = 0; r < Ranks; r++)
            {
                CudaStatus.ThrowIfFailed(Nccl.Api.Send(send.DevicePointer() + (ulong)r * bytes, (nuint)chunk, type, r, _comm, _device.Stream.Handle));
                CudaStatus.ThrowIfFailed(Nccl.Api.Recv(recv.DevicePointer() + (ulong)r * bytes, (nuint)chunk, type, r, _comm, _device.Stream.Handle));
            }
        }
        finally
        {
            CudaStatus.ThrowIfFailed(Nccl.Api.GroupEnd());
        }
    }

    private void Check(Tensor send, Tensor recv, long recvElements)
    {
        ThrowIfDisposed();
        if (send.Type != recv.Type || recv.Elements != recvElements)
            throw new KernelException($"NCCL collective from {send} into {recv}: the receive tensor needs {recvElements} {send.Type} elements");
        _device.MakeCurrent();
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (disposing) CudaStatus.ThrowIfFailed(Nccl.Api.CommDestroy(_comm));
    }
}
