using System.Diagnostics;
using System.Text.RegularExpressions;
using Alpa.Kernels.Cuda.Kernels;
using Alpa.Planner.Graph;
using Alpa.Silo.Selftest;

namespace Alpa.Tests.Cuda;

/// <summary>Runs only where a host C++ compiler (g++) is installed; skipped at run time otherwise.</summary>
public sealed class GxxFactAttribute : FactAttribute
{
    public GxxFactAttribute()
    {
        if (CudaSourcesTests.Gxx is null) Skip = "no g++ on PATH: install it (`apt-get install g++`) to syntax-check the CUDA kernel sources";
    }
}

/// <summary>What can be checked of the CUDA C sources without a GPU.</summary>
public sealed partial class CudaSourcesTests
{
    public static string? Gxx => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
        .Select(d => Path.Combine(d, "g++")).FirstOrDefault(File.Exists);

    [Fact]
    public void EveryOpKindHasAKernelOrACublasPath()
    {
        foreach (var op in Enum.GetValues<OpKind>())
        {
            Assert.True(CudaOpDispatch.Paths.TryGetValue(op, out var kernels), $"{op} has no CUDA path");
            foreach (var k in kernels)
                Assert.True(k == CudaOpDispatch.Cublas || CudaSources.KernelNames.Contains(k), $"{op} names kernel '{k}', which the sources lack");
        }
        var leavesAndCopies = new[] { OpKind.Parameter, OpKind.Input, OpKind.Reshape };
        Assert.All(Enum.GetValues<OpKind>().Except(leavesAndCopies), op => Assert.NotEmpty(CudaOpDispatch.Paths[op]));
    }

    [Fact]
    public void EveryKernelOfTheSourcesIsUsed()
    {
        var used = CudaOpDispatch.Paths.Values.SelectMany(v => v).ToHashSet();
        Assert.All(CudaSources.KernelNames, k => Assert.Contains(k, used));
        Assert.True(CudaSources.KernelNames.Count >= 35, $"only {CudaSources.KernelNames.Count} kernels found");
    }

    [Fact]
    public void SourcesIncludeNoHeaderAndBalanceTheirBraces()
    {
        var src = CudaSources.All;
        Assert.DoesNotContain("#include", src);
        Assert.Equal(src.Count(c => c == '{'), src.Count(c => c == '}'));
        Assert.Equal(src.Count(c => c == '('), src.Count(c => c == ')'));
    }

    [Fact]
    public void LauncherKernelNamesExistInTheSources()
    {
        var launcherDir = Path.Combine(RepositoryRoot(), "Alpa.Kernels", "Cuda", "Kernels");
        var names = Directory.GetFiles(launcherDir, "Cuda*.cs").Where(f => !f.Contains("CudaSources", StringComparison.Ordinal))
            .SelectMany(f => LaunchName().Matches(File.ReadAllText(f)).Select(m => m.Groups[1].Value)).ToHashSet();
        Assert.NotEmpty(names);
        Assert.All(names, n => Assert.Contains(n, CudaSources.KernelNames));
    }

    /// <summary>Compiles the kernels as host C++ against a stub of the CUDA built-ins: catches syntax and type errors.</summary>
    [GxxFact]
    public void KernelSourcesPassAHostCompilerSyntaxCheck()
    {
        var dir = Directory.CreateTempSubdirectory("alpa-cuda-syntax");
        try
        {
            var file = Path.Combine(dir.FullName, "kernels.cpp");
            File.WriteAllText(file, StubHeader + CudaSources.All);
            var psi = new ProcessStartInfo(Gxx!, ["-fsyntax-only", "-std=c++14", "-Wall", "-Wno-unused-function", "-Werror", file])
            { RedirectStandardError = true, RedirectStandardOutput = true };
            using var p = Process.Start(psi)!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private const string StubHeader = """
        #include <math.h>
        #include <cstring>
        #define __global__
        #define __device__
        #define __forceinline__ inline
        #define __shared__ static
        struct uint3_ { unsigned int x, y, z; };
        static uint3_ blockIdx, threadIdx, blockDim, gridDim;
        inline void __syncthreads() {}
        inline float __uint_as_float(unsigned int u) { float f; std::memcpy(&f, &u, 4); return f; }
        inline unsigned int __float_as_uint(float f) { unsigned int u; std::memcpy(&u, &f, 4); return u; }
        inline float __shfl_xor_sync(unsigned int, float v, int) { return v; }
        inline float atomicAdd(float* p, float v) { float o = *p; *p += v; return o; }
        inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }

        """;

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Alpa.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("Alpa.sln not found above the test binaries");
    }

    [GeneratedRegex("""(?:Map|Run)\([^,]+, "(\w+)"|Launch\("(\w+)""")]
    private static partial Regex LaunchName();
}
