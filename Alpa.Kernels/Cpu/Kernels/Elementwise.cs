using System.Numerics.Tensors;

namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>The four broadcasting binary ops.</summary>
public enum BinaryOp
{
    Add,
    Sub,
    Mul,
    Div,
}

/// <summary>Element-wise unary kernels, their gradients, cast and the causal mask (spans in, spans out).</summary>
public static class Elementwise
{
    public static void Scale(ReadOnlySpan<float> x, float factor, Span<float> y) => TensorPrimitives.Multiply(x, factor, y);
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y) => SimdDriver.Map(default(GeluOperator), x, y);
    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Tanh(x, y);
    public static void Exp(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Exp(x, y);
    public static void Sqrt(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Sqrt(x, y);

    public static void GeluGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => SimdDriver.Map(default(GeluGradOperator), x, dy, dx);
    public static void ReluGrad(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => SimdDriver.Map(default(ReluGradOperator), x, dy, dx);
    public static void TanhGrad(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) => SimdDriver.Map(default(TanhGradOperator), y, dy, dx);

    /// <summary>Element-wise op on equal-length spans (no broadcasting).</summary>
    public static void Binary(BinaryOp op, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> y)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, b, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(a, b, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(a, b, y); break;
            default: TensorPrimitives.Divide(a, b, y); break;
        }
    }

    /// <summary>y[i] = a[i] op s.</summary>
    public static void Binary(BinaryOp op, ReadOnlySpan<float> a, float s, Span<float> y)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(a, s, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(a, s, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(a, s, y); break;
            default: TensorPrimitives.Divide(a, s, y); break;
        }
    }

    /// <summary>y[i] = s op b[i].</summary>
    public static void Binary(BinaryOp op, float s, ReadOnlySpan<float> b, Span<float> y)
    {
        switch (op)
        {
            case BinaryOp.Add: TensorPrimitives.Add(b, s, y); break;
            case BinaryOp.Sub: TensorPrimitives.Subtract(s, b, y); break;
            case BinaryOp.Mul: TensorPrimitives.Multiply(b, s, y); break;
            default: TensorPrimitives.Divide(s, b, y); break;
        }
    }

    public static float Apply(BinaryOp op, float a, float b) => op switch
    {
        BinaryOp.Add => a + b,
        BinaryOp.Sub => a - b,
        BinaryOp.Mul => a * b,
        _ => a / b,
    };

    /// <summary>Rounds f32 values to the precision of <paramref name="to"/>; they stay stored as f32.</summary>
    public static void RoundTo(ElementType to, ReadOnlySpan<float> x, Span<float> y)
    {
        switch (to)
        {
            case ElementType.F16:
                for (var i = 0; i < x.Length; i++) y[i] = (float)(Half)x[i];
                break;
            case ElementType.BF16:
                for (var i = 0; i < x.Length; i++) y[i] = RoundToBFloat16(x[i]);
                break;
            default:
                x.CopyTo(y);
                break;
        }
    }

    /// <summary>f32 → bf16 with round-to-nearest-even (NaN kept NaN), returned as f32.</summary>
    public static float RoundToBFloat16(float v)
    {
        if (float.IsNaN(v)) return v;
        var bits = BitConverter.SingleToUInt32Bits(v);
        bits += 0x7FFFu + ((bits >> 16) & 1u);
        return BitConverter.UInt32BitsToSingle(bits & 0xFFFF0000u);
    }

    /// <summary>f32 → i32, truncating toward zero (saturating at the i32 range, NaN → 0).</summary>
    public static void CastToInt(ReadOnlySpan<float> x, Span<int> y)
    {
        for (var i = 0; i < x.Length; i++) y[i] = float.IsNaN(x[i]) ? 0 : (int)x[i];
    }

    public static void CastToFloat(ReadOnlySpan<int> x, Span<float> y)
    {
        for (var i = 0; i < x.Length; i++) y[i] = x[i];
    }

    /// <summary>
    /// x viewed as [batch, q, k]: copies x and sets the entries with column index &gt; row index to
    /// <paramref name="fill"/>.
    /// </summary>
    public static void CausalMask(ReadOnlySpan<float> x, Span<float> y, int batch, int q, int k, float fill)
    {
        ThrowHelper.CheckLength(x.Length, (long)batch * q * k, "x");
        x.CopyTo(y);
        for (var b = 0; b < batch; b++)
        {
            for (var i = 0; i < q && i + 1 < k; i++)
                y.Slice((b * q + i) * k + i + 1, k - i - 1).Fill(fill);
        }
    }
}
