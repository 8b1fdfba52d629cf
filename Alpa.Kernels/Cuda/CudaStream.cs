using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>A CUDA stream (non-blocking with respect to the legacy default stream).</summary>
public sealed unsafe class CudaStream : NativeResource
{
    private const uint NonBlocking = 1;

    internal CudaStream()
    {
        nint handle;
        CudaStatus.ThrowIfFailed(CudaDriver.Api.StreamCreate(&handle, NonBlocking));
        Handle = handle;
    }

    /// <summary>The CUstream.</summary>
    public nint Handle { get; }

    /// <summary>Waits until every operation issued on the stream has finished.</summary>
    public void Synchronize()
    {
        ThrowIfDisposed();
        CudaStatus.ThrowIfFailed(CudaDriver.Api.StreamSynchronize(Handle));
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (disposing) CudaStatus.ThrowIfFailed(CudaDriver.Api.StreamDestroy(Handle));
    }
}

/// <summary>A CUDA event, for timing work on a stream.</summary>
public sealed unsafe class CudaEvent : NativeResource
{
    internal CudaEvent()
    {
        nint handle;
        CudaStatus.ThrowIfFailed(CudaDriver.Api.EventCreate(&handle, 0));
        Handle = handle;
    }

    /// <summary>The CUevent.</summary>
    public nint Handle { get; }

    /// <summary>Records the event after the work issued so far on <paramref name="stream"/>.</summary>
    public void Record(CudaStream stream) => CudaStatus.ThrowIfFailed(CudaDriver.Api.EventRecord(Handle, stream.Handle));

    public void Synchronize() => CudaStatus.ThrowIfFailed(CudaDriver.Api.EventSynchronize(Handle));

    /// <summary>Milliseconds between two recorded events (the later one synchronized).</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        float ms;
        CudaStatus.ThrowIfFailed(CudaDriver.Api.EventElapsedTime(&ms, start.Handle, end.Handle));
        return ms;
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (disposing) CudaStatus.ThrowIfFailed(CudaDriver.Api.EventDestroy(Handle));
    }
}
