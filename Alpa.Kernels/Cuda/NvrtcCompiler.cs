using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>
/// Compiles CUDA C with NVRTC for one architecture: a cubin for <c>sm_XY</c> (the device's compute
/// capability); when this NVRTC is older than the device, PTX for the newest architecture it
/// knows, which the driver compiles on load. Results are cached for the life of the process, so
/// every kernel source is compiled once per process and architecture, however many devices load it.
/// </summary>
public static unsafe class NvrtcCompiler
{
    private static readonly ConcurrentDictionary<(string Source, int Arch), Lazy<byte[]>> s_cache = new();
    private static int s_compilations;

    /// <summary>Compilations run so far in this process (cache misses).</summary>
    public static int Compilations => Volatile.Read(ref s_compilations);

    /// <summary>The NVRTC options for an architecture (e.g. 90), as a cubin (<c>sm_</c>) or PTX (<c>compute_</c>).</summary>
    public static IReadOnlyList<string> Options(int arch, bool ptx) =>
        [$"--gpu-architecture={(ptx ? "compute" : "sm")}_{arch}", "--std=c++14", "-default-device"];

    /// <summary>The newest architecture in <paramref name="supported"/> not newer than the device's, or null.</summary>
    public static int? FallbackArch(int deviceArch, IEnumerable<int> supported)
    {
        var older = supported.Where(a => a <= deviceArch).ToList();
        return older.Count == 0 ? null : older.Max();
    }

    /// <summary>The module image (cubin, or NUL-terminated PTX) of <paramref name="source"/> for compute capability major.minor.</summary>
    public static byte[] Compile(string source, int major, int minor) =>
        s_cache.GetOrAdd((source, major * 10 + minor), key => new Lazy<byte[]>(() => CompileForDevice(key.Source, key.Arch))).Value;

    private static byte[] CompileForDevice(string source, int arch)
    {
        var (status, image, log) = CompileOnce(source, arch, ptx: false);
        if (status == NvrtcResult.InvalidOption && FallbackArch(arch, SupportedArchs()) is { } older)
            (status, image, log) = CompileOnce(source, older, ptx: true);
        if (status == NvrtcResult.Compilation)
            throw new CudaException($"NVRTC could not compile the CUDA kernels for sm_{arch}:\n{log}") { Status = (int)status };
        if (status == NvrtcResult.InvalidOption)
            throw new CudaException($"this NVRTC cannot compile for sm_{arch}: install a newer CUDA runtime compiler or set ALPA_LIBNVRTC\n{log}") { Status = (int)status };
        CudaStatus.ThrowIfFailed(status);
        return image!;
    }

    private static (NvrtcResult Status, byte[]? Image, string Log) CompileOnce(string source, int arch, bool ptx)
    {
        Interlocked.Increment(ref s_compilations);
        var api = Nvrtc.Api;
        var src = Encoding.UTF8.GetBytes(source + "\0");
        var name = "alpa_kernels.cu\0"u8.ToArray();
        nint program;
        fixed (byte* s = src, n = name)
            CudaStatus.ThrowIfFailed(api.CreateProgram(&program, s, n, 0, null, null));
        try
        {
            var options = Options(arch, ptx).Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
            NvrtcResult status;
            try
            {
                fixed (nint* o = options) status = api.CompileProgram(program, options.Length, (byte**)o);
            }
            finally
            {
                foreach (var o in options) Marshal.FreeCoTaskMem(o);
            }
            if (status != NvrtcResult.Success) return (status, null, Log(program));
            nuint size;
            CudaStatus.ThrowIfFailed(ptx ? api.GetPtxSize(program, &size) : api.GetCubinSize(program, &size));
            var image = new byte[(int)size];
            fixed (byte* c = image) CudaStatus.ThrowIfFailed(ptx ? api.GetPtx(program, c) : api.GetCubin(program, c));
            return (status, image, "");
        }
        finally
        {
            CudaStatus.ThrowIfFailed(api.DestroyProgram(&program));
        }
    }

    private static int[] SupportedArchs()
    {
        int n;
        CudaStatus.ThrowIfFailed(Nvrtc.Api.GetNumSupportedArchs(&n));
        var archs = new int[n];
        fixed (int* a = archs) CudaStatus.ThrowIfFailed(Nvrtc.Api.GetSupportedArchs(a));
        return archs;
    }

    private static string Log(nint program)
    {
        nuint size;
        CudaStatus.ThrowIfFailed(Nvrtc.Api.GetProgramLogSize(program, &size));
        var log = new byte[(int)size];
        fixed (byte* l = log) CudaStatus.ThrowIfFailed(Nvrtc.Api.GetProgramLog(program, l));
        return Encoding.UTF8.GetString(log).TrimEnd('\0');
    }
}
