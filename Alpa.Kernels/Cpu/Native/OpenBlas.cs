using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Alpa.Kernels.Cpu.Native;

/// <summary>
/// OpenBLAS bound by SONAME (<c>libopenblas.so.0</c>, Debian <c>libopenblas0</c>). Loading and
/// symbol lookup are checked here, once; the exports are unmanaged function pointers.
/// </summary>
internal static unsafe class OpenBlas
{
    public const string SoName = "libopenblas.so.0";
    public const int RowMajor = 101, NoTrans = 111, Trans = 112;

    private static readonly Lazy<Exports> s_exports = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    public sealed class Exports
    {
        public required delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm { get; init; }
        public required delegate* unmanaged<int, void> SetNumThreads { get; init; }
        public required delegate* unmanaged<int> GetNumThreads { get; init; }
        public required delegate* unmanaged<byte*> GetCoreName { get; init; }
        public required delegate* unmanaged<byte*> GetConfig { get; init; }
    }

    public static Exports Api => s_exports.Value;

    private static Exports Load()
    {
        if (!NativeLibrary.TryLoad(SoName, out var handle)) ThrowNotInstalled();
        return new Exports
        {
            Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)Export(handle, "cblas_sgemm"),
            SetNumThreads = (delegate* unmanaged<int, void>)Export(handle, "openblas_set_num_threads"),
            GetNumThreads = (delegate* unmanaged<int>)Export(handle, "openblas_get_num_threads"),
            GetCoreName = (delegate* unmanaged<byte*>)Export(handle, "openblas_get_corename"),
            GetConfig = (delegate* unmanaged<byte*>)Export(handle, "openblas_get_config"),
        };
    }

    private static nint Export(nint handle, string symbol)
    {
        if (!NativeLibrary.TryGetExport(handle, symbol, out var address)) ThrowMissingSymbol(symbol);
        return address;
    }

    [DoesNotReturn]
    private static void ThrowNotInstalled() => throw new NativeLibraryException(
        $"cannot load OpenBLAS ({SoName}), which the CPU backend needs for matrix products: install it with `apt-get install libopenblas0`");

    [DoesNotReturn]
    private static void ThrowMissingSymbol(string symbol) => throw new NativeLibraryException(
        $"{SoName} has no symbol '{symbol}': it is not OpenBLAS; install Debian's `apt-get install libopenblas0`");

    public static string? Utf8(byte* s) => s is null ? null : Marshal.PtrToStringUTF8((nint)s);
}
