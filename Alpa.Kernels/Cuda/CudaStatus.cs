using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>A CUDA driver, NVRTC, cuBLAS or NCCL call returned an error; the message names the call and the status.</summary>
public sealed class CudaException : KernelException
{
    public CudaException(string message) : base(message) { }

    /// <summary>The library's status code (CUresult, nvrtcResult, cublasStatus_t or ncclResult_t).</summary>
    public int Status { get; init; }
}

/// <summary>
/// Every status of every CUDA library call is checked here, in one place: the call expression is
/// captured by <see cref="CallerArgumentExpressionAttribute"/>, so an error names what failed.
/// </summary>
internal static class CudaStatus
{
    public static void ThrowIfFailed(CuResult status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CuResult.Success) Throw("CUDA driver", (int)status, $"{status} ({CudaDriver.ErrorString(status)})", call);
    }

    public static void ThrowIfFailed(NvrtcResult status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != NvrtcResult.Success) Throw("NVRTC", (int)status, status.ToString(), call);
    }

    public static void ThrowIfFailed(CublasStatus status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != CublasStatus.Success) Throw("cuBLAS", (int)status, status.ToString(), call);
    }

    public static void ThrowIfFailed(NcclResult status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != NcclResult.Success) Throw("NCCL", (int)status, $"{status} ({Nccl.ErrorString(status)})", call);
    }

    [DoesNotReturn]
    private static void Throw(string library, int code, string status, string call) =>
        throw new CudaException($"{library} call failed with {status}: {call}") { Status = code };
}
