using Alpa.Kernels;
using Alpa.Kernels.Cuda;

namespace Alpa.Tests.Cuda;

/// <summary>Launch shapes and the index arithmetic the kernels rely on, checked on the host.</summary>
public sealed class LaunchGeometryTests
{
    [Theory]
    [InlineData(1, 132, 1u)]
    [InlineData(256, 132, 1u)]
    [InlineData(257, 132, 2u)]
    [InlineData(10_000_000, 132, 132u * 32)]
    [InlineData(10_000, 0, 32u)]
    public void ElementwiseCoversTheElementsWithACappedGrid(long n, int sms, uint grid)
    {
        var s = LaunchGeometry.Elementwise(n, sms);
        Assert.Equal(grid, s.GridX);
        Assert.Equal((uint)LaunchGeometry.ElementwiseBlock, s.BlockX);
        Assert.True((long)s.GridX * s.BlockX >= n || s.GridX == (uint)Math.Max(1, sms) * LaunchGeometry.BlocksPerMultiprocessor);
    }

    [Fact]
    public void EmptyLaunchHasNoBlocks()
    {
        Assert.Equal(0u, LaunchGeometry.Elementwise(0, 80).GridX);
        Assert.Equal(0u, LaunchGeometry.PerRow(5, 0).GridX);
        Assert.Throws<KernelException>(() => LaunchGeometry.Elementwise(-1, 80));
    }

    [Theory]
    [InlineData(7, 1, 32u)]
    [InlineData(7, 37, 64u)]
    [InlineData(3, 1024, 1024u)]
    [InlineData(3, 50_000, 1024u)]
    public void RowBlocksAreWholeWarpsUpTo1024(long rows, long cols, uint block)
    {
        var s = LaunchGeometry.PerRow(rows, cols);
        Assert.Equal((uint)rows, s.GridX);
        Assert.Equal(block, s.BlockX);
        Assert.Equal(0u, s.BlockX % 32);
    }

    [Fact]
    public void BroadcastStridesReadTheRightElement()
    {
        var rng = new Random(3);
        long[] output = [2, 3, 4];
        foreach (long[] input in new[] { new long[] { 3, 1 }, [4], [2, 1, 4], [1], [2, 3, 4] })
        {
            var strides = LaunchGeometry.BroadcastStrides(input, output);
            var data = Enumerable.Range(0, (int)input.Aggregate(1L, (p, d) => p * d)).Select(_ => rng.Next()).ToArray();
            for (var i = 0; i < 24; i++)
            {
                var offset = KernelOffset(i, output, strides);
                Assert.Equal(data[NaiveBroadcastIndex(i, input, output)], data[offset]);
            }
        }
        Assert.Throws<KernelException>(() => LaunchGeometry.BroadcastStrides([3], [2, 4]));
    }

    [Fact]
    public void PermutedStridesTranspose()
    {
        long[] input = [2, 3, 4];
        int[] axes = [2, 0, 1];
        long[] output = [4, 2, 3];
        var strides = LaunchGeometry.PermutedStrides(input, axes);
        for (var i = 0; i < 24; i++)
        {
            var (o0, o1, o2) = (i / 6, i / 3 % 2, i % 3);
            var expected = (o1 * 3 + o2) * 4 + o0;
            Assert.Equal(expected, KernelOffset(i, output, strides));
        }
    }

    [Fact]
    public void SplitAxesWalksEveryReducedElementOnce()
    {
        long[] shape = [2, 3, 4, 5];
        var (ks, kst, rs, rst) = LaunchGeometry.SplitAxes(shape, [0, 2]);
        Assert.Equal([3L, 5], ks);
        Assert.Equal([2L, 4], rs);
        var seen = new HashSet<long>();
        for (var i = 0; i < 15; i++)
            for (var j = 0; j < 8; j++)
                Assert.True(seen.Add(KernelOffset(i, ks, kst) + KernelOffset(j, rs, rst)));
        Assert.Equal(120, seen.Count);
    }

    [Fact]
    public void ConvShapeComputesTheOutputSize()
    {
        var g = ConvShape.Of(2, 5, 5, 3, 3, 3, 4, stride: 2, pad: 1);
        Assert.Equal((3, 3), (g.OH, g.OW));
        Assert.Throws<KernelException>(() => ConvShape.Of(1, 2, 2, 1, 5, 5, 1, 1, 0));
    }

    [Fact]
    public unsafe void KernelArgsPackValuesAtEightByteSlots()
    {
        using var args = new KernelArgs();
        args.Add(7).Add(1.5f).Add(123456789012L).Add(Dims.From([2, 3, 4])).Add(9);
        Assert.Equal(5, args.Count);
        Assert.Equal(7, BitConverter.ToInt32(args.Argument(0, 4)));
        Assert.Equal(1.5f, BitConverter.ToSingle(args.Argument(1, 4)));
        Assert.Equal(123456789012L, BitConverter.ToInt64(args.Argument(2, 8)));
        Assert.Equal(3L, BitConverter.ToInt64(args.Argument(3, 64)[8..16]));
        Assert.Equal(64, sizeof(Dims));
        Assert.Equal(44, sizeof(ConvShape));
        Assert.Throws<KernelException>(() => Dims.From(new long[9]));
    }

    /// <summary>The offset loop of the <c>binary</c> and <c>permute</c> kernels, in C#.</summary>
    private static long KernelOffset(long i, long[] shape, long[] strides)
    {
        long o = 0;
        for (var k = shape.Length - 1; k >= 0; k--)
        {
            o += i % shape[k] * strides[k];
            i /= shape[k];
        }
        return o;
    }

    private static int NaiveBroadcastIndex(int flat, long[] input, long[] output)
    {
        var coords = new long[output.Length];
        for (var k = output.Length - 1; k >= 0; k--)
        {
            coords[k] = flat % output[k];
            flat /= (int)output[k];
        }
        long index = 0;
        var shift = output.Length - input.Length;
        for (var k = 0; k < input.Length; k++) index = index * input[k] + (input[k] == 1 ? 0 : coords[k + shift]);
        return (int)index;
    }
}
