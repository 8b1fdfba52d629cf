using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cuda.Native;

/// <summary>ncclUniqueId: 128 opaque bytes, passed by value to ncclCommInitRank.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NcclUniqueId
{
    public const int Size = 128;
    public fixed byte Internal[Size];
}

/// <summary>NCCL (nccl.h), loaded on first use from <see cref="CudaLibrary.Nccl"/>.</summary>
internal static unsafe class Nccl
{
    /// <summary>ncclDataType_t.</summary>
    public const int Int32 = 2, Float32 = 7, Bfloat16 = 9;
    /// <summary>ncclRedOp_t.</summary>
    public const int Sum = 0, Max = 2;

    private static readonly Lazy<Exports> s_exports = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed class Exports
    {
        public required delegate* unmanaged<NcclUniqueId*, NcclResult> GetUniqueId { get; init; }
        public required delegate* unmanaged<nint*, int, NcclUniqueId, int, NcclResult> CommInitRank { get; init; }
        public required delegate* unmanaged<nint, NcclResult> CommDestroy { get; init; }
        /// <summary>sendbuff, recvbuff, count, datatype, op, comm, stream.</summary>
        public required delegate* unmanaged<ulong, ulong, nuint, int, int, nint, nint, NcclResult> AllReduce { get; init; }
        /// <summary>sendbuff, recvbuff, sendcount, datatype, comm, stream.</summary>
        public required delegate* unmanaged<ulong, ulong, nuint, int, nint, nint, NcclResult> AllGather { get; init; }
        /// <summary>sendbuff, recvbuff, recvcount, datatype, op, comm, stream.</summary>
        public required delegate* unmanaged<ulong, ulong, nuint, int, int, nint, nint, NcclResult> ReduceScatter { get; init; }
        /// <summary>sendbuff, count, datatype, peer, comm, stream.</summary>
        public required delegate* unmanaged<ulong, nuint, int, int, nint, nint, NcclResult> Send { get; init; }
        /// <summary>recvbuff, count, datatype, peer, comm, stream.</summary>
        public required delegate* unmanaged<ulong, nuint, int, int, nint, nint, NcclResult> Recv { get; init; }
        public required delegate* unmanaged<NcclResult> GroupStart { get; init; }
        public required delegate* unmanaged<NcclResult> GroupEnd { get; init; }
        public required delegate* unmanaged<NcclResult, byte*> GetErrorString { get; init; }
    }

    public static Exports Api => s_exports.Value;

    private static Exports Load()
    {
        var h = CudaLibraries.Load(CudaLibrary.Nccl);
        nint E(string symbol) => CudaLibraries.Export(h, CudaLibrary.Nccl, symbol);
        return new Exports
        {
            GetUniqueId = (delegate* unmanaged<NcclUniqueId*, NcclResult>)E("ncclGetUniqueId"),
            CommInitRank = (delegate* unmanaged<nint*, int, NcclUniqueId, int, NcclResult>)E("ncclCommInitRank"),
            CommDestroy = (delegate* unmanaged<nint, NcclResult>)E("ncclCommDestroy"),
            AllReduce = (delegate* unmanaged<ulong, ulong, nuint, int, int, nint, nint, NcclResult>)E("ncclAllReduce"),
            AllGather = (delegate* unmanaged<ulong, ulong, nuint, int, nint, nint, NcclResult>)E("ncclAllGather"),
            ReduceScatter = (delegate* unmanaged<ulong, ulong, nuint, int, int, nint, nint, NcclResult>)E("ncclReduceScatter"),
            Send = (delegate* unmanaged<ulong, nuint, int, int, nint, nint, NcclResult>)E("ncclSend"),
            Recv = (delegate* unmanaged<ulong, nuint, int, int, nint, nint, NcclResult>)E("ncclRecv"),
            GroupStart = (delegate* unmanaged<NcclResult>)E("ncclGroupStart"),
            GroupEnd = (delegate* unmanaged<NcclResult>)E("ncclGroupEnd"),
            GetErrorString = (delegate* unmanaged<NcclResult, byte*>)E("ncclGetErrorString"),
        };
    }

    public static string ErrorString(NcclResult status) =>
        s_exports.IsValueCreated ? Marshal.PtrToStringUTF8((nint)Api.GetErrorString(status)) ?? "" : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
}
