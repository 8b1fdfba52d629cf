using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cuda.Native;

/// <summary>The four native libraries of the CUDA backend.</summary>
public enum CudaLibrary
{
    /// <summary>The driver API, <c>libcuda.so.1</c> (installed with the NVIDIA driver).</summary>
    Driver,
    /// <summary>The run-time compiler, <c>libnvrtc.so.12</c>.</summary>
    Nvrtc,
    /// <summary><c>libcublas.so.12</c>.</summary>
    Cublas,
    /// <summary><c>libnccl.so.2</c>.</summary>
    Nccl,
}

/// <summary>Where to load the CUDA libraries from; a null path means the environment variable, then the SONAME defaults.</summary>
public sealed record CudaLibraryOptions
{
    /// <summary>Path or file name of libcuda (default: <c>ALPA_LIBCUDA</c>, then <c>libcuda.so.1</c>).</summary>
    public string? Driver { get; init; }
    /// <summary>Path or file name of libnvrtc (default: <c>ALPA_LIBNVRTC</c>, then <c>libnvrtc.so.12</c>, .13, .11.2).</summary>
    public string? Nvrtc { get; init; }
    /// <summary>Path or file name of libcublas (default: <c>ALPA_LIBCUBLAS</c>, then <c>libcublas.so.12</c>, .13, .11).</summary>
    public string? Cublas { get; init; }
    /// <summary>Path or file name of libnccl (default: <c>ALPA_LIBNCCL</c>, then <c>libnccl.so.2</c>).</summary>
    public string? Nccl { get; init; }
}

/// <summary>
/// Locates and loads the CUDA libraries: a configured path (<see cref="Configure"/>), else the
/// environment variable, else the SONAMEs (the unversioned names exist only with -dev packages).
/// A library that cannot be loaded gives a <see cref="NativeLibraryException"/> that says what to install or set.
/// </summary>
public static class CudaLibraries
{
    private static CudaLibraryOptions s_options = new();

    /// <summary>Sets the library locations; call before the first CUDA device is created.</summary>
    public static void Configure(CudaLibraryOptions options) => s_options = options;

    /// <summary>The environment variable that overrides a library's location.</summary>
    public static string EnvironmentVariable(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => "ALPA_LIBCUDA",
        CudaLibrary.Nvrtc => "ALPA_LIBNVRTC",
        CudaLibrary.Cublas => "ALPA_LIBCUBLAS",
        _ => "ALPA_LIBNCCL",
    };

    /// <summary>The SONAMEs tried when nothing is configured, newest first.</summary>
    public static IReadOnlyList<string> DefaultNames(CudaLibrary library) => library switch
    {
        CudaLibrary.Driver => ["libcuda.so.1"],
        CudaLibrary.Nvrtc => ["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.11.2"],
        CudaLibrary.Cublas => ["libcublas.so.12", "libcublas.so.13", "libcublas.so.11"],
        _ => ["libnccl.so.2"],
    };

    /// <summary>Names to try, in order: the configured path, else the environment variable, else the defaults.</summary>
    public static IReadOnlyList<string> Candidates(CudaLibrary library, CudaLibraryOptions options, Func<string, string?> environment)
    {
        var configured = library switch
        {
            CudaLibrary.Driver => options.Driver,
            CudaLibrary.Nvrtc => options.Nvrtc,
            CudaLibrary.Cublas => options.Cublas,
            _ => options.Nccl,
        };
        if (!string.IsNullOrEmpty(configured)) return [configured];
        var fromEnvironment = environment(EnvironmentVariable(library));
        return string.IsNullOrEmpty(fromEnvironment) ? DefaultNames(library) : [fromEnvironment];
    }

    /// <summary>Loads the library or throws an error that names what to install or set.</summary>
    public static nint Load(CudaLibrary library)
    {
        var names = Candidates(library, s_options, Environment.GetEnvironmentVariable);
        foreach (var name in names)
            if (NativeLibrary.TryLoad(name, out var handle)) return handle;
        throw new NativeLibraryException(NotFoundMessage(library, names));
    }

    /// <summary>The message for a library that could not be loaded from any of <paramref name="tried"/>.</summary>
    public static string NotFoundMessage(CudaLibrary library, IReadOnlyList<string> tried)
    {
        var what = string.Join(", ", tried);
        var install = library switch
        {
            CudaLibrary.Driver => "this machine needs an NVIDIA GPU with its driver installed",
            CudaLibrary.Nvrtc => "install the CUDA runtime compiler (Debian/Ubuntu: `apt-get install cuda-nvrtc-12-x` from NVIDIA's repository, or pip's nvidia-cuda-nvrtc-cu12)",
            CudaLibrary.Cublas => "install cuBLAS (`apt-get install libcublas-12-x` from NVIDIA's repository, or pip's nvidia-cublas-cu12)",
            _ => "install NCCL (`apt-get install libnccl2`, or pip's nvidia-nccl-cu12)",
        };
        var prefix = library == CudaLibrary.Driver ? $"no CUDA driver found ({what})" : $"cannot load {library} ({what})";
        return $"{prefix}: {install}, or set {EnvironmentVariable(library)} to its full path";
    }

    /// <summary>The address of <paramref name="symbol"/> in a loaded library.</summary>
    public static nint Export(nint handle, CudaLibrary library, string symbol)
    {
        if (!NativeLibrary.TryGetExport(handle, symbol, out var address)) ThrowMissingSymbol(library, symbol);
        return address;
    }

    [DoesNotReturn]
    private static void ThrowMissingSymbol(CudaLibrary library, string symbol) => throw new NativeLibraryException(
        $"the loaded {library} library has no symbol '{symbol}': it is too old; install a CUDA 12 version or set {EnvironmentVariable(library)}");
}
