using Alpa.Kernels.Cpu.Kernels;

namespace Alpa.Tests.Kernels;

public sealed class ConvPoolTests
{
    [Theory]
    [InlineData(3, 1, 1)]
    [InlineData(3, 2, 1)]
    [InlineData(1, 1, 0)]
    [InlineData(2, 2, 0)]
    public void Conv2dAndGradientsMatchDirectFloat64(int kernel, int stride, int padding)
    {
        var rng = new Random(kernel * 10 + stride + padding);
        var g = new ConvGeometry(2, 7, 6, 3, kernel, kernel, 4, stride, padding);
        var x = Ref.Randn(rng, g.N * g.H * g.W * g.Cin);
        var w = Ref.Randn(rng, g.K * g.Cout);
        var dy = Ref.Randn(rng, g.N * g.Ho * g.Wo * g.Cout);
        var y = new double[dy.Length]; var dx = new double[x.Length]; var dw = new double[w.Length];
        for (var n = 0; n < g.N; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++)
                    for (var co = 0; co < g.Cout; co++)
                    {
                        var o = ((n * g.Ho + oh) * g.Wo + ow) * g.Cout + co;
                        for (var kh = 0; kh < g.KH; kh++)
                            for (var kw = 0; kw < g.KW; kw++)
                            {
                                int ih = oh * stride - padding + kh, iw = ow * stride - padding + kw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                for (var ci = 0; ci < g.Cin; ci++)
                                {
                                    var xi = ((n * g.H + ih) * g.W + iw) * g.Cin + ci;
                                    var wi = ((kh * g.KW + kw) * g.Cin + ci) * g.Cout + co;
                                    y[o] += (double)x[xi] * w[wi];
                                    dx[xi] += (double)dy[o] * w[wi];
                                    dw[wi] += (double)dy[o] * x[xi];
                                }
                            }
                    }
        var ay = new float[y.Length]; var adx = new float[dx.Length]; var adw = new float[dw.Length];
        Convolution.Forward(x, w, ay, g);
        Convolution.GradInput(dy, w, adx, g);
        Convolution.GradWeight(x, dy, adw, g);
        Ref.Close(ay, y, 1e-5, "conv");
        Ref.Close(adx, dx, 1e-5, "conv grad input");
        Ref.Close(adw, dw, 1e-5, "conv grad weight");
    }

    [Theory]
    [InlineData(3, 2, 1)]
    [InlineData(2, 2, 0)]
    public void PoolingAndGradientsMatchFloat64(int kernel, int stride, int padding)
    {
        var rng = new Random(20 + kernel);
        var g = new ConvGeometry(2, 6, 5, 3, kernel, kernel, 3, stride, padding);
        var x = Ref.Randn(rng, g.N * g.H * g.W * g.Cin);
        var dy = Ref.Randn(rng, g.N * g.Ho * g.Wo * g.Cin);
        var max = new double[dy.Length]; var avg = new double[dy.Length];
        var dmax = new double[x.Length]; var davg = new double[x.Length];
        for (var n = 0; n < g.N; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++)
                    for (var c = 0; c < g.Cin; c++)
                    {
                        var o = ((n * g.Ho + oh) * g.Wo + ow) * g.Cin + c;
                        var best = -1; double sum = 0;
                        for (var kh = 0; kh < kernel; kh++)
                            for (var kw = 0; kw < kernel; kw++)
                            {
                                int ih = oh * stride - padding + kh, iw = ow * stride - padding + kw;
                                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                                var i = ((n * g.H + ih) * g.W + iw) * g.Cin + c;
                                sum += x[i];
                                davg[i] += dy[o] / (double)(kernel * kernel);
                                if (best < 0 || x[i] > x[best]) best = i;
                            }
                        max[o] = x[best]; avg[o] = sum / (kernel * kernel);
                        dmax[best] += dy[o];
                    }
        var a = new float[dy.Length]; var da = new float[x.Length];
        Pooling.MaxPool(x, a, g); Ref.Close(a, max, 0, "max pool");
        Pooling.AvgPool(x, a, g); Ref.Close(a, avg, 1e-6, "avg pool");
        Pooling.MaxPoolGrad(x, dy, da, g); Ref.Close(da, dmax, 1e-6, "max pool grad");
        Pooling.AvgPoolGrad(dy, da, g); Ref.Close(da, davg, 1e-6, "avg pool grad");
    }
}
