namespace Alpa.Kernels.Cuda.Native;

/// <summary>NVRTC (nvrtc.h), loaded on first use from <see cref="CudaLibrary.Nvrtc"/>.</summary>
internal static unsafe class Nvrtc
{
    private static readonly Lazy<Exports> s_exports = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed class Exports
    {
        public required delegate* unmanaged<int*, int*, NvrtcResult> Version { get; init; }
        public required delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, NvrtcResult> CreateProgram { get; init; }
        public required delegate* unmanaged<nint, int, byte**, NvrtcResult> CompileProgram { get; init; }
        public required delegate* unmanaged<nint, nuint*, NvrtcResult> GetProgramLogSize { get; init; }
        public required delegate* unmanaged<nint, byte*, NvrtcResult> GetProgramLog { get; init; }
        public required delegate* unmanaged<nint, nuint*, NvrtcResult> GetCubinSize { get; init; }
        public required delegate* unmanaged<nint, byte*, NvrtcResult> GetCubin { get; init; }
        public required delegate* unmanaged<nint*, NvrtcResult> DestroyProgram { get; init; }
        public required delegate* unmanaged<nint, nuint*, NvrtcResult> GetPtxSize { get; init; }
        public required delegate* unmanaged<nint, byte*, NvrtcResult> GetPtx { get; init; }
        public required delegate* unmanaged<int*, NvrtcResult> GetNumSupportedArchs { get; init; }
        public required delegate* unmanaged<int*, NvrtcResult> GetSupportedArchs { get; init; }
    }

    public static Exports Api => s_exports.Value;

    private static Exports Load()
    {
        var h = CudaLibraries.Load(CudaLibrary.Nvrtc);
        nint E(string symbol) => CudaLibraries.Export(h, CudaLibrary.Nvrtc, symbol);
        return new Exports
        {
            Version = (delegate* unmanaged<int*, int*, NvrtcResult>)E("nvrtcVersion"),
            CreateProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, NvrtcResult>)E("nvrtcCreateProgram"),
            CompileProgram = (delegate* unmanaged<nint, int, byte**, NvrtcResult>)E("nvrtcCompileProgram"),
            GetProgramLogSize = (delegate* unmanaged<nint, nuint*, NvrtcResult>)E("nvrtcGetProgramLogSize"),
            GetProgramLog = (delegate* unmanaged<nint, byte*, NvrtcResult>)E("nvrtcGetProgramLog"),
            GetCubinSize = (delegate* unmanaged<nint, nuint*, NvrtcResult>)E("nvrtcGetCUBINSize"),
            GetCubin = (delegate* unmanaged<nint, byte*, NvrtcResult>)E("nvrtcGetCUBIN"),
            DestroyProgram = (delegate* unmanaged<nint*, NvrtcResult>)E("nvrtcDestroyProgram"),
            GetPtxSize = (delegate* unmanaged<nint, nuint*, NvrtcResult>)E("nvrtcGetPTXSize"),
            GetPtx = (delegate* unmanaged<nint, byte*, NvrtcResult>)E("nvrtcGetPTX"),
            GetNumSupportedArchs = (delegate* unmanaged<int*, NvrtcResult>)E("nvrtcGetNumSupportedArchs"),
            GetSupportedArchs = (delegate* unmanaged<int*, NvrtcResult>)E("nvrtcGetSupportedArchs"),
        };
    }
}
