using System.Collections.Concurrent;
using System.Text;
using Alpa.Kernels.Cuda.Kernels;
using Alpa.Kernels.Cuda.Native;

namespace Alpa.Kernels.Cuda;

/// <summary>The kernels of <see cref="CudaSources.All"/> loaded into one device's context; functions are looked up by name once.</summary>
public sealed unsafe class CudaModule : NativeResource
{
    private readonly CudaDevice _device;
    private readonly nint _module;
    private readonly ConcurrentDictionary<string, nint> _functions = new(StringComparer.Ordinal);

    internal CudaModule(CudaDevice device)
    {
        _device = device;
        var image = NvrtcCompiler.Compile(CudaSources.All, device.ComputeCapability.Major, device.ComputeCapability.Minor);
        device.MakeCurrent();
        nint module;
        fixed (byte* p = image) CudaStatus.ThrowIfFailed(CudaDriver.Api.ModuleLoadData(&module, p));
        _module = module;
    }

    /// <summary>The CUfunction of an <c>extern "C"</c> kernel.</summary>
    public nint Function(string name)
    {
        ThrowIfDisposed();
        return _functions.GetOrAdd(name, n =>
        {
            if (!CudaSources.KernelNames.Contains(n)) throw new KernelException($"no CUDA kernel named '{n}' in the backend's sources");
            var bytes = Encoding.ASCII.GetBytes(n + "\0");
            nint f;
            fixed (byte* b = bytes) CudaStatus.ThrowIfFailed(CudaDriver.Api.ModuleGetFunction(&f, _module, b));
            return f;
        });
    }

    /// <summary>Launches a kernel on the device's stream.</summary>
    public void Launch(string name, LaunchShape shape, KernelArgs args)
    {
        if (shape.GridX == 0) return;
        var f = Function(name);
        _device.MakeCurrent();
        CudaStatus.ThrowIfFailed(CudaDriver.Api.LaunchKernel(f, shape.GridX, 1, 1, shape.BlockX, 1, 1, shape.SharedBytes,
                                                            _device.Stream.Handle, args.Pointers, null));
    }

    protected override void ReleaseNative(bool disposing)
    {
        if (disposing) CudaStatus.ThrowIfFailed(CudaDriver.Api.ModuleUnload(_module));
    }
}
