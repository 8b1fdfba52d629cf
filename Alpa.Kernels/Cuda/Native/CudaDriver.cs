using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cuda.Native;

/// <summary>
/// The CUDA driver API (cuda.h), loaded on first use from <see cref="CudaLibrary.Driver"/>.
/// Handles are <c>nint</c> (CUcontext, CUstream, CUevent, CUmodule, CUfunction), device
/// pointers <c>ulong</c> (CUdeviceptr), devices <c>int</c> (CUdevice).
/// </summary>
internal static unsafe class CudaDriver
{
    private static readonly Lazy<Exports> s_exports = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed class Exports
    {
        public required delegate* unmanaged<uint, CuResult> Init { get; init; }
        public required delegate* unmanaged<int*, CuResult> DriverGetVersion { get; init; }
        public required delegate* unmanaged<int*, CuResult> DeviceGetCount { get; init; }
        public required delegate* unmanaged<int*, int, CuResult> DeviceGet { get; init; }
        public required delegate* unmanaged<byte*, int, int, CuResult> DeviceGetName { get; init; }
        public required delegate* unmanaged<int*, CuDeviceAttribute, int, CuResult> DeviceGetAttribute { get; init; }
        public required delegate* unmanaged<nuint*, int, CuResult> DeviceTotalMem { get; init; }
        public required delegate* unmanaged<nint*, int, CuResult> DevicePrimaryCtxRetain { get; init; }
        public required delegate* unmanaged<int, CuResult> DevicePrimaryCtxRelease { get; init; }
        public required delegate* unmanaged<nint, CuResult> CtxSetCurrent { get; init; }
        public required delegate* unmanaged<nint*, uint, CuResult> StreamCreate { get; init; }
        public required delegate* unmanaged<nint, CuResult> StreamDestroy { get; init; }
        public required delegate* unmanaged<nint, CuResult> StreamSynchronize { get; init; }
        public required delegate* unmanaged<nint*, uint, CuResult> EventCreate { get; init; }
        public required delegate* unmanaged<nint, nint, CuResult> EventRecord { get; init; }
        public required delegate* unmanaged<nint, CuResult> EventSynchronize { get; init; }
        public required delegate* unmanaged<float*, nint, nint, CuResult> EventElapsedTime { get; init; }
        public required delegate* unmanaged<nint, CuResult> EventDestroy { get; init; }
        public required delegate* unmanaged<ulong*, nuint, CuResult> MemAlloc { get; init; }
        public required delegate* unmanaged<ulong, CuResult> MemFree { get; init; }
        public required delegate* unmanaged<ulong, void*, nuint, nint, CuResult> MemcpyHtoDAsync { get; init; }
        public required delegate* unmanaged<void*, ulong, nuint, nint, CuResult> MemcpyDtoHAsync { get; init; }
        public required delegate* unmanaged<ulong, ulong, nuint, nint, CuResult> MemcpyDtoDAsync { get; init; }
        public required delegate* unmanaged<ulong, byte, nuint, nint, CuResult> MemsetD8Async { get; init; }
        public required delegate* unmanaged<nint*, void*, CuResult> ModuleLoadData { get; init; }
        public required delegate* unmanaged<nint, CuResult> ModuleUnload { get; init; }
        public required delegate* unmanaged<nint*, nint, byte*, CuResult> ModuleGetFunction { get; init; }
        public required delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, CuResult> LaunchKernel { get; init; }
        public required delegate* unmanaged<CuResult, byte**, CuResult> GetErrorString { get; init; }
    }

    /// <summary>The driver's exports, after <c>cuInit(0)</c>; throws <see cref="NativeLibraryException"/> without a driver.</summary>
    public static Exports Api => s_exports.Value;

    private static Exports Load()
    {
        var h = CudaLibraries.Load(CudaLibrary.Driver);
        nint E(string symbol) => CudaLibraries.Export(h, CudaLibrary.Driver, symbol);
        var api = new Exports
        {
            Init = (delegate* unmanaged<uint, CuResult>)E("cuInit"),
            DriverGetVersion = (delegate* unmanaged<int*, CuResult>)E("cuDriverGetVersion"),
            DeviceGetCount = (delegate* unmanaged<int*, CuResult>)E("cuDeviceGetCount"),
            DeviceGet = (delegate* unmanaged<int*, int, CuResult>)E("cuDeviceGet"),
            DeviceGetName = (delegate* unmanaged<byte*, int, int, CuResult>)E("cuDeviceGetName"),
            DeviceGetAttribute = (delegate* unmanaged<int*, CuDeviceAttribute, int, CuResult>)E("cuDeviceGetAttribute"),
            DeviceTotalMem = (delegate* unmanaged<nuint*, int, CuResult>)E("cuDeviceTotalMem_v2"),
            DevicePrimaryCtxRetain = (delegate* unmanaged<nint*, int, CuResult>)E("cuDevicePrimaryCtxRetain"),
            DevicePrimaryCtxRelease = (delegate* unmanaged<int, CuResult>)E("cuDevicePrimaryCtxRelease_v2"),
            CtxSetCurrent = (delegate* unmanaged<nint, CuResult>)E("cuCtxSetCurrent"),
            StreamCreate = (delegate* unmanaged<nint*, uint, CuResult>)E("cuStreamCreate"),
            StreamDestroy = (delegate* unmanaged<nint, CuResult>)E("cuStreamDestroy_v2"),
            StreamSynchronize = (delegate* unmanaged<nint, CuResult>)E("cuStreamSynchronize"),
            EventCreate = (delegate* unmanaged<nint*, uint, CuResult>)E("cuEventCreate"),
            EventRecord = (delegate* unmanaged<nint, nint, CuResult>)E("cuEventRecord"),
            EventSynchronize = (delegate* unmanaged<nint, CuResult>)E("cuEventSynchronize"),
            EventElapsedTime = (delegate* unmanaged<float*, nint, nint, CuResult>)E("cuEventElapsedTime"),
            EventDestroy = (delegate* unmanaged<nint, CuResult>)E("cuEventDestroy_v2"),
            MemAlloc = (delegate* unmanaged<ulong*, nuint, CuResult>)E("cuMemAlloc_v2"),
            MemFree = (delegate* unmanaged<ulong, CuResult>)E("cuMemFree_v2"),
            MemcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, nint, CuResult>)E("cuMemcpyHtoDAsync_v2"),
            MemcpyDtoHAsync = (delegate* unmanaged<void*, ulong, nuint, nint, CuResult>)E("cuMemcpyDtoHAsync_v2"),
            MemcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, nint, CuResult>)E("cuMemcpyDtoDAsync_v2"),
            MemsetD8Async = (delegate* unmanaged<ulong, byte, nuint, nint, CuResult>)E("cuMemsetD8Async"),
            ModuleLoadData = (delegate* unmanaged<nint*, void*, CuResult>)E("cuModuleLoadData"),
            ModuleUnload = (delegate* unmanaged<nint, CuResult>)E("cuModuleUnload"),
            ModuleGetFunction = (delegate* unmanaged<nint*, nint, byte*, CuResult>)E("cuModuleGetFunction"),
            LaunchKernel = (delegate* unmanaged<nint, uint, uint, uint, uint, uint, uint, uint, nint, void**, void**, CuResult>)E("cuLaunchKernel"),
            GetErrorString = (delegate* unmanaged<CuResult, byte**, CuResult>)E("cuGetErrorString"),
        };
        CudaStatus.ThrowIfFailed(api.Init(0));
        return api;
    }

    /// <summary>The driver's description of a status, or its number when the driver has none.</summary>
    public static string ErrorString(CuResult status)
    {
        if (!s_exports.IsValueCreated) return ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
        byte* text = null;
        return Api.GetErrorString(status, &text) == CuResult.Success && text is not null
            ? Marshal.PtrToStringUTF8((nint)text) ?? "" : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Number of CUDA devices; throws <see cref="NativeLibraryException"/> when there is no driver.</summary>
    public static int DeviceCount()
    {
        int n;
        var status = Api.DeviceGetCount(&n);
        if (status == CuResult.NoDevice) return 0;
        CudaStatus.ThrowIfFailed(status);
        return n;
    }
}
