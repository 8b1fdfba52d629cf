using System.Buffers;
using System.Numerics.Tensors;

namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>Softmax, layer norm and batch norm (training statistics) with their gradients. Rows are the last axis.</summary>
public static class Normalization
{
    /// <summary>Softmax over rows of length <paramref name="cols"/> (max subtracted first).</summary>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> y, int rows, int cols)
    {
        ThrowHelper.CheckLength(x.Length, (long)rows * cols, "x");
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            var max = TensorPrimitives.Max(xr);
            TensorPrimitives.Subtract(xr, max, yr);
            TensorPrimitives.Exp(yr, yr);
            TensorPrimitives.Multiply(yr, (float)(1.0 / Reductions.SumDouble(yr)), yr);
        }
    }

    /// <summary>dx = y·(dy − Σ dy·y) per row.</summary>
    public static void SoftmaxGrad(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols)
    {
        for (var r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var dot = TensorPrimitives.Dot(yr, dyr);
            var dxr = dx.Slice(r * cols, cols);
            TensorPrimitives.Subtract(dyr, dot, dxr);
            TensorPrimitives.Multiply(dxr, yr, dxr);
        }
    }

    /// <summary>y = (x − mean)/√(var + ε)·γ + β per row (biased variance).</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y, int rows, int cols, float eps)
    {
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var yr = y.Slice(r * cols, cols);
            var (mean, rstd) = RowStats(xr, eps);
            TensorPrimitives.Subtract(xr, mean, yr);
            TensorPrimitives.Multiply(yr, rstd, yr);
            TensorPrimitives.FusedMultiplyAdd(yr, gamma, beta, yr);
        }
    }

    /// <summary>dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·γ.</summary>
    public static void LayerNormGradInput(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> dy, Span<float> dx, int rows, int cols, float eps)
    {
        var buffer = ArrayPool<float>.Shared.Rent(2 * cols);
        var xhat = buffer.AsSpan(0, cols);
        var g = buffer.AsSpan(cols, cols);
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var (mean, rstd) = RowStats(xr, eps);
            TensorPrimitives.Subtract(xr, mean, xhat);
            TensorPrimitives.Multiply(xhat, rstd, xhat);
            TensorPrimitives.Multiply(dy.Slice(r * cols, cols), gamma, g);
            var meanG = (float)(Reductions.SumDouble(g) / cols);
            var meanGx = TensorPrimitives.Dot(g, xhat) / cols;
            var dxr = dx.Slice(r * cols, cols);
            TensorPrimitives.Subtract(g, meanG, dxr);
            TensorPrimitives.MultiplyAdd(xhat, -meanGx, dxr, dxr);
            TensorPrimitives.Multiply(dxr, rstd, dxr);
        }
        ArrayPool<float>.Shared.Return(buffer);
    }

    /// <summary>dγ[c] = Σ_rows dy·x̂ (row statistics as in <see cref="LayerNorm"/>).</summary>
    public static void LayerNormGradGamma(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dgamma, int rows, int cols, float eps)
    {
        var acc = new double[cols];
        for (var r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * cols, cols);
            var dyr = dy.Slice(r * cols, cols);
            var (mean, rstd) = RowStats(xr, eps);
            for (var c = 0; c < cols; c++) acc[c] += dyr[c] * ((xr[c] - mean) * rstd);
        }
        for (var c = 0; c < cols; c++) dgamma[c] = (float)acc[c];
    }

    /// <summary>Batch norm with batch statistics over the rows of x [rows, channels] (NHWC flattened).</summary>
    public static void BatchNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> beta, Span<float> y, int rows, int channels, float eps)
    {
        var (mean, rstd) = ChannelStats(x, rows, channels, eps);
        var scale = new float[channels];
        var shift = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            scale[c] = rstd[c] * gamma[c];
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        for (var r = 0; r < rows; r++)
            TensorPrimitives.FusedMultiplyAdd(x.Slice(r * channels, channels), scale, shift, y.Slice(r * channels, channels));
    }

    /// <summary>dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂)) per channel.</summary>
    public static void BatchNormGradInput(ReadOnlySpan<float> x, ReadOnlySpan<float> gamma, ReadOnlySpan<float> dy, Span<float> dx, int rows, int channels, float eps)
    {
        var (mean, rstd) = ChannelStats(x, rows, channels, eps);
        var sumDy = new double[channels];
        var sumDyX = new double[channels];
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < channels; c++)
            {
                var i = r * channels + c;
                sumDy[c] += dy[i];
                sumDyX[c] += dy[i] * ((x[i] - mean[c]) * rstd[c]);
            }
        }
        for (var r = 0; r < rows; r++)
        {
            for (var c = 0; c < channels; c++)
            {
                var i = r * channels + c;
                var xhat = (x[i] - mean[c]) * rstd[c];
                dx[i] = (float)(gamma[c] * rstd[c] * (dy[i] - sumDy[c] / rows - xhat * sumDyX[c] / rows));
            }
        }
    }

    /// <summary>dγ[c] = Σ_rows dy·x̂.</summary>
    public static void BatchNormGradGamma(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dgamma, int rows, int channels, float eps)
    {
        var (mean, rstd) = ChannelStats(x, rows, channels, eps);
        var acc = new double[channels];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < channels; c++)
                acc[c] += dy[r * channels + c] * ((x[r * channels + c] - mean[c]) * rstd[c]);
        for (var c = 0; c < channels; c++) dgamma[c] = (float)acc[c];
    }

    private static (float Mean, float Rstd) RowStats(ReadOnlySpan<float> x, float eps)
    {
        var mean = Reductions.SumDouble(x) / x.Length;
        double v = 0;
        foreach (var e in x) v += (e - mean) * (e - mean);
        return ((float)mean, (float)(1.0 / Math.Sqrt(v / x.Length + eps)));
    }

    private static (float[] Mean, float[] Rstd) ChannelStats(ReadOnlySpan<float> x, int rows, int channels, float eps)
    {
        var sum = new double[channels];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < channels; c++) sum[c] += x[r * channels + c];
        var mean = new double[channels];
        for (var c = 0; c < channels; c++) mean[c] = sum[c] / rows;
        var sq = new double[channels];
        for (var r = 0; r < rows; r++)
            for (var c = 0; c < channels; c++) { var d = x[r * channels + c] - mean[c]; sq[c] += d * d; }
        var m = new float[channels];
        var rs = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            m[c] = (float)mean[c];
            rs[c] = (float)(1.0 / Math.Sqrt(sq[c] / rows + eps));
        }
        return (m, rs);
    }
}
