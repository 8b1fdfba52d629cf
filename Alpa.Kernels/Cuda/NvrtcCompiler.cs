using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>
/// Compiles CUDA C with NVRTC to a cubin for one architecture (<c>sm_XY</c> from the device's
/// compute capability). Results are cached for the life of the process, so every kernel source
/// is compiled once per process and architecture, however many devices load it.
/// </summary>
public static unsafe class NvrtcCompiler
{
    private static readonly ConcurrentDictionary<(string Source, int Major, int Minor), Lazy<byte[]>> s_cache = new();

    /// <summary>Compilations run so far in this process (cache misses).</summary>
    public static int Compilations => Volatile.Read(ref s_compilations);
    private static int s_compilations;

    /// <summary>The NVRTC options for a compute capability.</summary>
    public static IReadOnlyList<string> Options(int major, int minor) =>
        [$"--gpu-architecture=sm_{major}{minor}", "--std=c++14", "-default-device"];

    /// <summary>The cubin of <paramref name="source"/> for compute capability major.minor.</summary>
    public static byte[] Compile(string source, int major, int minor) =>
        s_cache.GetOrAdd((source, major, minor), key => new Lazy<byte[]>(() => CompileNow(key.Source, key.Major, key.Minor))).Value;

    private static byte[] CompileNow(string source, int major, int minor)
    {
        Interlocked.Increment(ref s_compilations);
        var api = Nvrtc.Api;
        var src = Utf8z(source);
        var name = Utf8z("alpa_kernels.cu");
        nint program;
        fixed (byte* s = src, n = name)
            CudaStatus.ThrowIfFailed(api.CreateProgram(&program, s, n, 0, null, null));
        try
        {
            var options = Options(major, minor).Select(o => Marshal.StringToCoTaskMemUTF8(o)).ToArray();
            NvrtcResult status;
            try
            {
                fixed (nint* o = options) status = api.CompileProgram(program, options.Length, (byte**)o);
            }
            finally
            {
                foreach (var o in options) Marshal.FreeCoTaskMem(o);
            }
            if (status == NvrtcResult.Compilation)
                throw new CudaException($"NVRTC could not compile the CUDA kernels for sm_{major}{minor}:\n{Log(program)}") { Status = (int)status };
            CudaStatus.ThrowIfFailed(status);
            nuint size;
            CudaStatus.ThrowIfFailed(api.GetCubinSize(program, &size));
            var cubin = new byte[(int)size];
            fixed (byte* c = cubin) CudaStatus.ThrowIfFailed(api.GetCubin(program, c));
            return cubin;
        }
        finally
        {
            CudaStatus.ThrowIfFailed(api.DestroyProgram(&program));
        }
    }

    private static string Log(nint program)
    {
        nuint size;
        CudaStatus.ThrowIfFailed(Nvrtc.Api.GetProgramLogSize(program, &size));
        var log = new byte[(int)size];
        fixed (byte* l = log) CudaStatus.ThrowIfFailed(Nvrtc.Api.GetProgramLog(program, l));
        return Encoding.UTF8.GetString(log).TrimEnd('\0');
    }

    private static byte[] Utf8z(string s) => Encoding.UTF8.GetBytes(s + "\0");
}
