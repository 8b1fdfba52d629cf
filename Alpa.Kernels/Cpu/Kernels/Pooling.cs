namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>
/// Max and average pooling over NHWC images with a square window (geometry: KH = KW = kernel,
/// Cin = Cout = channels). Max pooling ignores padded positions (a window entirely in the padding
/// gives 0); average pooling counts them as zeros and divides by kernel².
/// </summary>
public static class Pooling
{
    public static void MaxPool(ReadOnlySpan<float> x, Span<float> y, ConvGeometry g)
    {
        var o = 0;
        for (var n = 0; n < g.N; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++)
                    for (var c = 0; c < g.Cin; c++, o++)
                    {
                        var best = ArgMax(x, g, n, oh, ow, c);
                        y[o] = best < 0 ? 0f : x[best];
                    }
    }

    /// <summary>dx = dy routed to the first maximum of each window (accumulated where windows overlap).</summary>
    public static void MaxPoolGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, ConvGeometry g)
    {
        dx[..(g.N * g.H * g.W * g.Cin)].Clear();
        var o = 0;
        for (var n = 0; n < g.N; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++)
                    for (var c = 0; c < g.Cin; c++, o++)
                    {
                        var best = ArgMax(x, g, n, oh, ow, c);
                        if (best >= 0) dx[best] += dy[o];
                    }
    }

    public static void AvgPool(ReadOnlySpan<float> x, Span<float> y, ConvGeometry g)
    {
        var inv = 1.0 / (g.KH * g.KW);
        var o = 0;
        for (var n = 0; n < g.N; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++)
                    for (var c = 0; c < g.Cin; c++, o++)
                    {
                        double s = 0;
                        foreach (var i in Window(g, n, oh, ow, c)) s += x[i];
                        y[o] = (float)(s * inv);
                    }
    }

    /// <summary>dx [N,H,W,C]: each window spreads dy / kernel² over its in-bounds positions.</summary>
    public static void AvgPoolGrad(ReadOnlySpan<float> dy, Span<float> dx, ConvGeometry g)
    {
        dx[..(g.N * g.H * g.W * g.Cin)].Clear();
        var inv = 1f / (g.KH * g.KW);
        var o = 0;
        for (var n = 0; n < g.N; n++)
            for (var oh = 0; oh < g.Ho; oh++)
                for (var ow = 0; ow < g.Wo; ow++)
                    for (var c = 0; c < g.Cin; c++, o++)
                    {
                        var d = dy[o] * inv;
                        foreach (var i in Window(g, n, oh, ow, c)) dx[i] += d;
                    }
    }

    private static int ArgMax(ReadOnlySpan<float> x, ConvGeometry g, int n, int oh, int ow, int c)
    {
        var best = -1;
        foreach (var i in Window(g, n, oh, ow, c))
            if (best < 0 || x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>Flat indices of the in-bounds positions of one window, row-major.</summary>
    private static WindowEnumerator Window(ConvGeometry g, int n, int oh, int ow, int c) => new(g, n, oh, ow, c);

    private ref struct WindowEnumerator(ConvGeometry g, int n, int oh, int ow, int c)
    {
        private int _k = -1;
        public int Current { get; private set; }
        public readonly WindowEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            while (++_k < g.KH * g.KW)
            {
                var ih = oh * g.Stride - g.Padding + _k / g.KW;
                var iw = ow * g.Stride - g.Padding + _k % g.KW;
                if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
                Current = ((n * g.H + ih) * g.W + iw) * g.Cin + c;
                return true;
            }
            return false;
        }
    }
}
