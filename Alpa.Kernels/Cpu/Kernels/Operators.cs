using System.Runtime.Intrinsics;

namespace Alpa.Kernels.Cpu.Kernels;

// Operator structs for SimdDriver. Constants as in the formulas of OpKind.

/// <summary>tanh(u) = 1 − 2 / (exp(2u) + 1), vectorized through Vector*.Exp (saturates to ±1).</summary>
internal static class VTanh
{
    public static Vector256<float> Of(Vector256<float> u) =>
        Vector256<float>.One - Vector256.Create(2f) / (Vector256.Exp(u + u) + Vector256<float>.One);
    public static Vector512<float> Of(Vector512<float> u) =>
        Vector512<float>.One - Vector512.Create(2f) / (Vector512.Exp(u + u) + Vector512<float>.One);
}

/// <summary>GELU, tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
public readonly struct GeluOperator : IUnaryOperator
{
    public const float C = 0.7978845608028654f, A = 0.044715f;
    public float Invoke(float x) => 0.5f * x * (1f + MathF.Tanh(C * (x + A * x * x * x)));
    public Vector256<float> Invoke(Vector256<float> x)
    {
        var t = VTanh.Of(Vector256.Create(C) * (x + Vector256.Create(A) * x * x * x));
        return Vector256.Create(0.5f) * x * (Vector256<float>.One + t);
    }
    public Vector512<float> Invoke(Vector512<float> x)
    {
        var t = VTanh.Of(Vector512.Create(C) * (x + Vector512.Create(A) * x * x * x));
        return Vector512.Create(0.5f) * x * (Vector512<float>.One + t);
    }
}

/// <summary>d GELU/dx · dy with t = tanh(u): 0.5(1 + t) + 0.5·x·(1 − t²)·C·(1 + 3A·x²).</summary>
public readonly struct GeluGradOperator : IBinaryOperator
{
    private const float C = GeluOperator.C, A = GeluOperator.A;
    public float Invoke(float x, float dy)
    {
        var t = MathF.Tanh(C * (x + A * x * x * x));
        return dy * (0.5f * (1f + t) + 0.5f * x * (1f - t * t) * C * (1f + 3f * A * x * x));
    }
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy)
    {
        var one = Vector256<float>.One; var half = Vector256.Create(0.5f);
        var t = VTanh.Of(Vector256.Create(C) * (x + Vector256.Create(A) * x * x * x));
        return dy * (half * (one + t) + half * x * (one - t * t) * Vector256.Create(C) * (one + Vector256.Create(3f * A) * x * x));
    }
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> dy)
    {
        var one = Vector512<float>.One; var half = Vector512.Create(0.5f);
        var t = VTanh.Of(Vector512.Create(C) * (x + Vector512.Create(A) * x * x * x));
        return dy * (half * (one + t) + half * x * (one - t * t) * Vector512.Create(C) * (one + Vector512.Create(3f * A) * x * x));
    }
}

/// <summary>dy where x &gt; 0, else 0.</summary>
public readonly struct ReluGradOperator : IBinaryOperator
{
    public float Invoke(float x, float dy) => x > 0f ? dy : 0f;
    public Vector256<float> Invoke(Vector256<float> x, Vector256<float> dy) => Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256<float>.Zero), dy, Vector256<float>.Zero);
    public Vector512<float> Invoke(Vector512<float> x, Vector512<float> dy) => Vector512.ConditionalSelect(Vector512.GreaterThan(x, Vector512<float>.Zero), dy, Vector512<float>.Zero);
}

/// <summary>dy·(1 − y²), y the tanh output.</summary>
public readonly struct TanhGradOperator : IBinaryOperator
{
    public float Invoke(float y, float dy) => dy * (1f - y * y);
    public Vector256<float> Invoke(Vector256<float> y, Vector256<float> dy) => dy * (Vector256<float>.One - y * y);
    public Vector512<float> Invoke(Vector512<float> y, Vector512<float> dy) => dy * (Vector512<float>.One - y * y);
}

/// <summary>SGD momentum buffer: μ·buf + g.</summary>
public readonly struct MomentumOperator(float mu) : IBinaryOperator
{
    public float Invoke(float buf, float g) => mu * buf + g;
    public Vector256<float> Invoke(Vector256<float> buf, Vector256<float> g) => Vector256.Create(mu) * buf + g;
    public Vector512<float> Invoke(Vector512<float> buf, Vector512<float> g) => Vector512.Create(mu) * buf + g;
}

/// <summary>SGD step: p − lr·(d + wd·p).</summary>
public readonly struct SgdUpdateOperator(float lr, float wd) : IBinaryOperator
{
    public float Invoke(float p, float d) => p - lr * (d + wd * p);
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> d) => p - Vector256.Create(lr) * (d + Vector256.Create(wd) * p);
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> d) => p - Vector512.Create(lr) * (d + Vector512.Create(wd) * p);
}

/// <summary>Adam moment: β·m + (1 − β)·g, or of g² when <paramref name="square"/>.</summary>
public readonly struct AdamMomentOperator(float beta, bool square) : IBinaryOperator
{
    public float Invoke(float m, float g) => beta * m + (1f - beta) * (square ? g * g : g);
    public Vector256<float> Invoke(Vector256<float> m, Vector256<float> g) => Vector256.Create(beta) * m + Vector256.Create(1f - beta) * (square ? g * g : g);
    public Vector512<float> Invoke(Vector512<float> m, Vector512<float> g) => Vector512.Create(beta) * m + Vector512.Create(1f - beta) * (square ? g * g : g);
}

/// <summary>AdamW step: p − lr·(m·c1 / (√(v·c2) + ε) + wd·p) with c1 = 1/(1 − β1^t), c2 = 1/(1 − β2^t).</summary>
public readonly struct AdamUpdateOperator(float lr, float c1, float c2, float eps, float wd) : ITernaryOperator
{
    public float Invoke(float p, float m, float v) => p - lr * (m * c1 / (MathF.Sqrt(v * c2) + eps) + wd * p);
    public Vector256<float> Invoke(Vector256<float> p, Vector256<float> m, Vector256<float> v) =>
        p - Vector256.Create(lr) * (m * Vector256.Create(c1) / (Vector256.Sqrt(v * Vector256.Create(c2)) + Vector256.Create(eps)) + Vector256.Create(wd) * p);
    public Vector512<float> Invoke(Vector512<float> p, Vector512<float> m, Vector512<float> v) =>
        p - Vector512.Create(lr) * (m * Vector512.Create(c1) / (Vector512.Sqrt(v * Vector512.Create(c2)) + Vector512.Create(eps)) + Vector512.Create(wd) * p);
}
