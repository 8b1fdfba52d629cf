namespace Alpa.Kernels.Cuda.Kernels;

/// <summary>Shared plumbing of the kernel launchers: device of a tensor, argument packing, one launch.</summary>
internal static class CudaLaunch
{
    public static CudaDevice Device(Tensor t) =>
        t.Device as CudaDevice ?? throw new KernelException($"{t} is not on a CUDA device");

    /// <summary>Packs the arguments with <paramref name="fill"/> and launches <paramref name="kernel"/> on <paramref name="device"/>'s stream.</summary>
    public static void Run(CudaDevice device, string kernel, LaunchShape shape, Action<KernelArgs> fill)
    {
        using var args = new KernelArgs();
        fill(args);
        device.Kernels.Launch(kernel, shape, args);
    }

    /// <summary>A grid-stride launch over <paramref name="n"/> elements.</summary>
    public static void Map(CudaDevice device, string kernel, long n, Action<KernelArgs> fill) =>
        Run(device, kernel, LaunchGeometry.Elementwise(n, device.Multiprocessors), fill);

    /// <summary>Adds a tensor's device pointer and its storage code (two kernel parameters).</summary>
    public static KernelArgs Tensor(this KernelArgs args, Tensor t) => args.Add(t.DevicePointer()).Add(t.StorageCode());

    /// <summary>Adds a tensor's device pointer alone.</summary>
    public static KernelArgs Pointer(this KernelArgs args, Tensor t) => args.Add(t.DevicePointer());

    /// <summary>Element size of a layout kernel's raw copies.</summary>
    public static int ElementSize(Tensor t) => CudaDevice.StorageSize(t.Type);

    /// <summary>
    /// Runs <paramref name="body"/> on an f32 accumulator of <paramref name="y"/>'s shape: y itself
    /// when it is stored as f32, else a zeroed scratch tensor cast into y afterwards.
    /// </summary>
    public static void WithF32(Tensor y, bool zeroed, Action<Tensor> body)
    {
        var device = Device(y);
        if (y.Type == ElementType.F32)
        {
            if (zeroed) device.Clear(y);
            body(y);
            return;
        }
        using var acc = device.Allocate(ElementType.F32, y.Shape);
        if (zeroed) device.Clear(acc);
        body(acc);
        CudaElementwise.Unary(CudaSources.UnaryCast, acc, y, 0f);
    }
}
