using Alpa.Kernels;
using Alpa.Kernels.Cuda;
using Alpa.Kernels.Cuda.Native;

namespace Alpa.Tests.Cuda;

/// <summary>Host-side parts of the CUDA backend: storage conversion, library lookup, the cuBLAS row-major mapping.</summary>
public sealed class CudaHostTests
{
    [Theory]
    [InlineData(1.0f, (ushort)0x3f80)]
    [InlineData(-2.0f, (ushort)0xc000)]
    [InlineData(1.00390625f, (ushort)0x3f80)]   // exactly half-way: ties to even (down)
    [InlineData(1.01171875f, (ushort)0x3f82)]   // half-way above an odd mantissa: up
    [InlineData(float.PositiveInfinity, (ushort)0x7f80)]
    public void Bf16RoundsToNearestEven(float value, ushort bits) => Assert.Equal(bits, CudaStorage.ToBf16(value));

    [Fact]
    public void Bf16KeepsNaNAndRoundTripsThroughStorage()
    {
        Assert.True(float.IsNaN(CudaStorage.FromBf16(CudaStorage.ToBf16(float.NaN))));
        var host = HostTensor.FromFloats(ElementType.BF16, [1.5f, -0.25f, 3.140625f], 3);
        var bytes = CudaStorage.Encode(host, ElementType.BF16);
        Assert.Equal(6, bytes.Length);
        Assert.Equal(host.Floats, CudaStorage.Decode(bytes, ElementType.BF16, [3]).Floats);
        var ints = HostTensor.FromInts([1, -7], 2);
        Assert.Equal(ints.Ints, CudaStorage.Decode(CudaStorage.Encode(ints, ElementType.I32), ElementType.I32, [2]).Ints);
        Assert.Equal(2, CudaDevice.StorageSize(ElementType.BF16));
        Assert.Equal(4, CudaDevice.StorageSize(ElementType.F16));
    }

    [Fact]
    public void LibraryLocationsComeFromConfigurationThenEnvironmentThenSonames()
    {
        var env = new Dictionary<string, string> { ["ALPA_LIBNVRTC"] = "/opt/cuda/lib64/libnvrtc.so.12.4" };
        string? Env(string name) => env.GetValueOrDefault(name);
        Assert.Equal(["libcuda.so.1"], CudaLibraries.Candidates(CudaLibrary.Driver, new(), Env));
        Assert.Equal(["/opt/cuda/lib64/libnvrtc.so.12.4"], CudaLibraries.Candidates(CudaLibrary.Nvrtc, new(), Env));
        Assert.Equal(["/x/libnvrtc.so"], CudaLibraries.Candidates(CudaLibrary.Nvrtc, new() { Nvrtc = "/x/libnvrtc.so" }, Env));
        Assert.Equal(["libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.11.2"], CudaLibraries.DefaultNames(CudaLibrary.Nvrtc));
        Assert.Equal(["libcublas.so.12", "libcublas.so.13", "libcublas.so.11"], CudaLibraries.DefaultNames(CudaLibrary.Cublas));
        Assert.Equal(["libnccl.so.2"], CudaLibraries.DefaultNames(CudaLibrary.Nccl));
    }

    [Fact]
    public void MissingLibrariesSayWhatToInstallOrSet()
    {
        var driver = CudaLibraries.NotFoundMessage(CudaLibrary.Driver, ["libcuda.so.1"]);
        Assert.StartsWith("no CUDA driver found (libcuda.so.1)", driver);
        Assert.Contains("ALPA_LIBCUDA", driver);
        Assert.Contains("ALPA_LIBNCCL", CudaLibraries.NotFoundMessage(CudaLibrary.Nccl, ["libnccl.so.2"]));
        Assert.Contains("libnccl2", CudaLibraries.NotFoundMessage(CudaLibrary.Nccl, ["libnccl.so.2"]));
    }

    [Fact]
    public void AMissingLibraryThrowsTheTypedError()
    {
        var e = Assert.Throws<NativeLibraryException>(() =>
        {
            CudaLibraries.Configure(new CudaLibraryOptions { Nccl = "/nonexistent/libnccl.so.2" });
            try { CudaLibraries.Load(CudaLibrary.Nccl); }
            finally { CudaLibraries.Configure(new CudaLibraryOptions()); }
        });
        Assert.Contains("/nonexistent/libnccl.so.2", e.Message);
    }

    [Fact]
    public void NvrtcTargetsTheDeviceOrFallsBackToTheNewestOlderPtx()
    {
        Assert.Equal(["--gpu-architecture=sm_90", "--std=c++14", "-default-device"], NvrtcCompiler.Options(90, ptx: false));
        Assert.Equal("--gpu-architecture=compute_90", NvrtcCompiler.Options(90, ptx: true)[0]);
        Assert.Equal(90, NvrtcCompiler.FallbackArch(100, [75, 80, 86, 89, 90]));
        Assert.Equal(80, NvrtcCompiler.FallbackArch(80, [75, 80, 90]));
        Assert.Null(NvrtcCompiler.FallbackArch(70, [75, 80]));
    }

    /// <summary>The column-major call, run by a naive column-major GEMM, gives the row-major product.</summary>
    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void RowMajorGemmMapsToTheSwappedColumnMajorCall(bool transA, bool transB)
    {
        const int m = 3, n = 5, k = 4;
        var rng = new Random(1);
        var a = Enumerable.Range(0, m * k).Select(_ => rng.NextDouble()).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => rng.NextDouble()).ToArray();
        double A(int i, int p) => transA ? a[p * m + i] : a[i * k + p];
        double B(int p, int j) => transB ? b[j * k + p] : b[p * n + j];
        var call = GemmCall.RowMajor(transA, transB, m, n, k);
        Assert.True(call.SwapOperands);
        var c = new double[m * n];
        // column-major C(i,j) = Σ op(X)(i,p) op(Y)(p,j), X = b (lda), Y = a (ldb), C ldc
        for (var i = 0; i < call.M; i++)
            for (var j = 0; j < call.N; j++)
            {
                double s = 0;
                for (var p = 0; p < call.K; p++)
                {
                    var x = call.TransA == 0 ? b[p * call.Lda + i] : b[i * call.Lda + p];
                    var y = call.TransB == 0 ? a[j * call.Ldb + p] : a[p * call.Ldb + j];
                    s += x * y;
                }
                c[j * call.Ldc + i] = s;
            }
        for (var i = 0; i < m; i++)
            for (var j = 0; j < n; j++)
                Assert.Equal(Enumerable.Range(0, k).Sum(p => A(i, p) * B(p, j)), c[i * n + j], 12);
    }
}
