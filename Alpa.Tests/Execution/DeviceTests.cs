using Alpa.Kernels;
using Alpa.Kernels.Cpu;

namespace Alpa.Tests.Execution;

public sealed class DeviceTests
{
    [Fact]
    public void ViewsShareTheBufferUntilTheLastIsDisposed()
    {
        using var device = new CpuDevice();
        var t = device.Upload(HostTensor.FromFloats([1, 2, 3, 4, 5, 6], 2, 3));
        var v = t.View([3, 2]);
        t.Dispose();
        Assert.Equal(new float[] { 1, 2, 3, 4, 5, 6 }, device.CopyToHost(v).Floats);
        Assert.True(device.Memory.LiveBytes > 0);
        v.Dispose();
        Assert.Equal(0, device.Memory.LiveBytes);
        Assert.Throws<KernelException>(() => device.Upload(HostTensor.FromFloats([1, 2], 2)).View([3]));
    }

    [Fact]
    public void PoolReusesBlocksOfTheSameSize()
    {
        using var device = new CpuDevice();
        device.Allocate(ElementType.F32, [100]).Dispose();
        device.Allocate(ElementType.F32, [100]).Dispose();
        Assert.Equal(1, device.Memory.Reuses);
        Assert.Equal(448, device.Memory.ReservedBytes);
    }
}
