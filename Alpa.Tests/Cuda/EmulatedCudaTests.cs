using System.Diagnostics;
using System.Text.Json;

namespace Alpa.Tests.Cuda;

/// <summary>
/// The real CUDA backend (bindings, NVRTC path, launch packing, every kernel, cuBLAS mapping)
/// end to end on a CPU stand-in for libcuda/libnvrtc/libcublas (Cuda/Emulator): g++ builds the
/// stand-in, and "NVRTC" compiles the kernel sources as host C++ whose blocks run on threads.
/// It runs in a child <c>alpa</c> process, which loads the stand-in through ALPA_LIBCUDA & co.
/// </summary>
public sealed class EmulatedCudaTests
{
    [GxxFact]
    public void SelftestPassesOnTheEmulatedCudaStack()
    {
        var dir = Directory.CreateTempSubdirectory("alpa-emu-test");
        try
        {
            var emulator = Path.Combine(RepositoryRoot(), "Alpa.Tests", "Cuda", "Emulator");
            var library = Path.Combine(dir.FullName, "libemucuda.so");
            Run(CudaSourcesTests.Gxx!, ["-std=c++17", "-shared", "-fPIC", "-O1", $"-DEMU_HEADER=\"\\\"{emulator}/emu_kernel.h\\\"\"",
                                         Path.Combine(emulator, "emu_cuda.cpp"), "-o", library, "-ldl", "-lpthread"], null);
            var env = new Dictionary<string, string>
            {
                ["ALPA_LIBCUDA"] = library, ["ALPA_LIBNVRTC"] = library, ["ALPA_LIBCUBLAS"] = library, ["ALPA_LIBNCCL"] = library,
            };
            var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
            var json = Run(dotnet, [Path.Combine(AppContext.BaseDirectory, "alpa.dll"), "selftest", "--backend", "cuda", "--json"], env);
            using var doc = JsonDocument.Parse(json);
            var root = doc.RootElement;
            Assert.Contains("CPU emulator", root.GetProperty("device").GetString());
            var failed = root.GetProperty("cases").EnumerateArray().Where(c => !c.GetProperty("passed").GetBoolean())
                .Select(c => c.GetRawText()).ToList();
            Assert.True(failed.Count == 0, string.Join("\n", failed));
            Assert.Equal(112, root.GetProperty("passed").GetInt32());
            var collectives = root.GetProperty("collectives").EnumerateArray().ToList();
            Assert.Equal(8, collectives.Count);
            Assert.All(collectives, c => Assert.True(c.GetProperty("passed").GetBoolean(), c.GetRawText()));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string Run(string file, string[] args, Dictionary<string, string>? env)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (k, v) in env ?? []) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} exited with {p.ExitCode}:\n{stderr.Result}\n{stdout}");
        return stdout;
    }

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Alpa.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("Alpa.sln not found above the test binaries");
    }
}
