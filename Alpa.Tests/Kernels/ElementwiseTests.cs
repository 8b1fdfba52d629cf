using Alpa.Kernels;
using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class ElementwiseTests
{
    private static double GeluRef(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    [Fact]
    public void UnaryKernelsMatchFloat64()
    {
        var rng = new Random(3);
        var x = Ref.Randn(rng, 1000 + rng.Next(17), 3);
        var y = new float[x.Length];
        Elementwise.Gelu(x, y); Ref.Close(y, x.Select(v => GeluRef(v)).ToArray(), 1e-5, "gelu");
        Elementwise.Relu(x, y); Ref.Close(y, x.Select(v => Math.Max(0.0, v)).ToArray(), 0, "relu");
        Elementwise.Tanh(x, y); Ref.Close(y, x.Select(v => Math.Tanh(v)).ToArray(), 1e-6, "tanh");
        Elementwise.Exp(x, y); Ref.Close(y, x.Select(v => Math.Exp(v)).ToArray(), 1e-6, "exp");
        Elementwise.Scale(x, 0.3f, y); Ref.Close(y, x.Select(v => 0.3f * v).Select(v => (double)v).ToArray(), 1e-7, "scale");
        var pos = x.Select(Math.Abs).ToArray();
        Elementwise.Sqrt(pos, y); Ref.Close(y, pos.Select(v => Math.Sqrt(v)).ToArray(), 1e-7, "sqrt");
    }

    [Fact]
    public void GradientKernelsMatchFloat64()
    {
        var rng = new Random(4);
        var x = Ref.Randn(rng, 777, 3);
        var dy = Ref.Randn(rng, 777);
        var dx = new float[x.Length];
        Elementwise.GeluGrad(x, dy, dx);
        Ref.Close(dx, x.Select((v, i) => dy[i] * (GeluRef(v + 1e-6) - GeluRef(v - 1e-6)) / 2e-6).ToArray(), 1e-5, "gelu grad");
        Elementwise.ReluGrad(x, dy, dx);
        Ref.Close(dx, x.Select((v, i) => v > 0 ? (double)dy[i] : 0).ToArray(), 0, "relu grad");
        var t = x.Select(v => (float)Math.Tanh(v)).ToArray();
        Elementwise.TanhGrad(t, dy, dx);
        Ref.Close(dx, t.Select((v, i) => dy[i] * (1 - (double)v * v)).ToArray(), 1e-6, "tanh grad");
    }

    [Fact]
    public void BroadcastingBinaryOpsMatchNumPyRules()
    {
        var rng = new Random(5);
        foreach (var op in Enum.GetValues<BinaryOp>())
            for (var trial = 0; trial < 25; trial++)
            {
                var rank = rng.Next(0, 5);
                var full = Ref.RandomShape(rng, rank, 5);
                var aShape = Drop(rng, full);
                var bShape = Drop(rng, full);
                var yShape = Broadcasting.Shape(aShape, bShape);
                var a = Ref.Randn(rng, Ref.Count(aShape));
                var b = Ref.Randn(rng, Ref.Count(bShape)).Select(v => op == BinaryOp.Div ? v + 3 * Math.Sign(v + 1e-9f) : v).ToArray();
                var y = new float[Ref.Count(yShape)];
                Broadcasting.Binary(op, a, aShape, b, bShape, y);
                var expected = new double[y.Length];
                for (var i = 0; i < y.Length; i++)
                {
                    var idx = Ref.Index(i, yShape);
                    double av = a[At(idx, aShape)], bv = b[At(idx, bShape)];
                    expected[i] = op switch { BinaryOp.Add => av + bv, BinaryOp.Sub => av - bv, BinaryOp.Mul => av * bv, _ => av / bv };
                }
                Ref.Close(y, expected, 1e-7, $"{op} [{string.Join(",", aShape)}] with [{string.Join(",", bShape)}]");
                var copy = new float[y.Length];
                Broadcasting.To(a, aShape, copy, yShape);
                Ref.Close(copy, Enumerable.Range(0, y.Length).Select(i => (double)a[At(Ref.Index(i, yShape), aShape)]).ToArray(), 0, "broadcast");
            }
    }

    /// <summary>Some leading dims removed and some dims set to 1.</summary>
    private static long[] Drop(Random rng, long[] full)
    {
        var s = full[rng.Next(0, full.Length + 1)..].ToArray();
        for (var i = 0; i < s.Length; i++) if (rng.Next(3) == 0) s[i] = 1;
        return s;
    }

    private static int At(long[] outIdx, long[] shape)
    {
        long off = 0;
        var st = Ref.Strides(shape);
        for (var i = 0; i < shape.Length; i++)
        {
            var oi = outIdx[outIdx.Length - shape.Length + i];
            off += (shape[i] == 1 ? 0 : oi) * st[i];
        }
        return (int)off;
    }

    [Fact]
    public void CastRoundsToHalfPrecisionsAndTruncatesToInt()
    {
        float[] x = [1.0009765625f + 1e-4f, -2.5f, 3.14159265f, 65504f, 1e-8f];
        var y = new float[x.Length];
        Elementwise.RoundTo(ElementType.F16, x, y);
        Assert.Equal(x.Select(v => (float)(Half)v), y);
        Elementwise.RoundTo(ElementType.BF16, x, y);
        Assert.Equal(3.140625f, y[2]);
        Assert.Equal(-2.5f, y[1]);
        var ints = new int[x.Length];
        Elementwise.CastToInt(x, ints);
        Assert.Equal([1, -2, 3, 65504, 0], ints);
    }

    [Fact]
    public void CausalMaskFillsAboveTheDiagonal()
    {
        var rng = new Random(6);
        var x = Ref.Randn(rng, 2 * 3 * 4);
        var y = new float[x.Length];
        Elementwise.CausalMask(x, y, 2, 3, 4, -1e9f);
        for (var b = 0; b < 2; b++)
            for (var q = 0; q < 3; q++)
                for (var k = 0; k < 4; k++)
                    Assert.Equal(k > q ? -1e9f : x[(b * 3 + q) * 4 + k], y[(b * 3 + q) * 4 + k]);
    }
}
