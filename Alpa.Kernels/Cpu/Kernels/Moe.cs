namespace Alpa.Kernels.Cpu.Kernels;

/// <summary>
/// GShard-style mixture-of-experts kernels over G groups of S tokens, E experts, capacity C.
/// Gating: softmax gates, the two best experts per token (ties: lower index), weights
/// renormalized over the two (w1 = p1/(p1+p2), w2 = p2/(p1+p2)); slots are given in token order,
/// each token taking its first then its second expert; a choice whose expert is full is dropped
/// (the other keeps its weight). With E = 1 every token's single choice has weight 1.
/// </summary>
public static class Moe
{
    private readonly record struct Choice(int Expert, float Weight, int Slot);

    /// <summary>combine [G, S, E, C] from logits [G, S, E].</summary>
    public static void Gate(ReadOnlySpan<float> logits, Span<float> combine, int groups, int tokens, int experts, int capacity)
    {
        combine[..(groups * tokens * experts * capacity)].Clear();
        var probs = new float[experts];
        var counts = new int[experts];
        for (var g = 0; g < groups; g++)
        {
            Array.Clear(counts);
            for (var s = 0; s < tokens; s++)
            {
                var (c1, c2) = Assign(logits.Slice((g * tokens + s) * experts, experts), probs, counts, capacity);
                var baseIndex = (long)(g * tokens + s) * experts * capacity;
                if (c1.Slot >= 0) combine[(int)(baseIndex + c1.Expert * capacity + c1.Slot)] = c1.Weight;
                if (c2.Slot >= 0) combine[(int)(baseIndex + c2.Expert * capacity + c2.Slot)] = c2.Weight;
            }
        }
    }

    /// <summary>dlogits [G, S, E] from dcombine [G, S, E, C], the assignment recomputed from the logits.</summary>
    public static void GateGrad(ReadOnlySpan<float> logits, ReadOnlySpan<float> dcombine, Span<float> dlogits, int groups, int tokens, int experts, int capacity)
    {
        var probs = new float[experts];
        var counts = new int[experts];
        var dp = new double[experts];
        for (var g = 0; g < groups; g++)
        {
            Array.Clear(counts);
            for (var s = 0; s < tokens; s++)
            {
                var row = (g * tokens + s) * experts;
                var (c1, c2) = Assign(logits.Slice(row, experts), probs, counts, capacity);
                var outRow = dlogits.Slice(row, experts);
                if (experts == 1)
                {
                    outRow.Clear();
                    continue;
                }
                var baseIndex = (long)row * capacity;
                double dw1 = c1.Slot >= 0 ? dcombine[(int)(baseIndex + c1.Expert * capacity + c1.Slot)] : 0;
                double dw2 = c2.Slot >= 0 ? dcombine[(int)(baseIndex + c2.Expert * capacity + c2.Slot)] : 0;
                double p1 = probs[c1.Expert], p2 = probs[c2.Expert], sum = p1 + p2;
                Array.Clear(dp);
                dp[c1.Expert] = p2 * (dw1 - dw2) / (sum * sum);
                dp[c2.Expert] = p1 * (dw2 - dw1) / (sum * sum);
                // softmax backward: dlogit_j = p_j (dp_j − Σ_k p_k dp_k)
                var dot = probs[c1.Expert] * dp[c1.Expert] + probs[c2.Expert] * dp[c2.Expert];
                for (var e = 0; e < experts; e++) outRow[e] = (float)(probs[e] * (dp[e] - dot));
            }
        }
    }

    private static (Choice First, Choice Second) Assign(ReadOnlySpan<float> logits, float[] probs, int[] counts, int capacity)
    {
        var experts = logits.Length;
        Normalization.Softmax(logits, probs, 1, experts);
        var e1 = 0;
        for (var e = 1; e < experts; e++) if (probs[e] > probs[e1]) e1 = e;
        if (experts == 1) return (Take(e1, 1f, counts, capacity), new Choice(0, 0f, -1));
        var e2 = e1 == 0 ? 1 : 0;
        for (var e = 0; e < experts; e++) if (e != e1 && probs[e] > probs[e2]) e2 = e;
        var sum = probs[e1] + probs[e2];
        var first = Take(e1, probs[e1] / sum, counts, capacity);
        var second = Take(e2, probs[e2] / sum, counts, capacity);
        return (first, second);
    }

    private static Choice Take(int expert, float weight, int[] counts, int capacity)
    {
        if (counts[expert] >= capacity) return new Choice(expert, weight, -1);
        return new Choice(expert, weight, counts[expert]++);
    }

    /// <summary>y [E, G, C, M]: y[e,g,c] = Σ_s w[g,s,e,c]·x[g,s]; w = (combine ≠ 0) when mask, else combine.</summary>
    public static void Dispatch(ReadOnlySpan<float> x, ReadOnlySpan<float> combine, Span<float> y, int groups, int tokens, int experts, int capacity, int model, bool mask)
    {
        y[..(experts * groups * capacity * model)].Clear();
        for (var g = 0; g < groups; g++)
            for (var s = 0; s < tokens; s++)
                for (var e = 0; e < experts; e++)
                    for (var c = 0; c < capacity; c++)
                    {
                        var w = combine[((g * tokens + s) * experts + e) * capacity + c];
                        if (w == 0f) continue;
                        var dst = y.Slice(((e * groups + g) * capacity + c) * model, model);
                        var src = x.Slice((g * tokens + s) * model, model);
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(src, mask ? 1f : w, dst, dst);
                    }
    }

    /// <summary>out [G, S, M]: out[g,s] = Σ_{e,c} w[g,s,e,c]·y[e,g,c].</summary>
    public static void Combine(ReadOnlySpan<float> y, ReadOnlySpan<float> combine, Span<float> output, int groups, int tokens, int experts, int capacity, int model, bool mask)
    {
        output[..(groups * tokens * model)].Clear();
        for (var g = 0; g < groups; g++)
            for (var s = 0; s < tokens; s++)
            {
                var dst = output.Slice((g * tokens + s) * model, model);
                for (var e = 0; e < experts; e++)
                    for (var c = 0; c < capacity; c++)
                    {
                        var w = combine[((g * tokens + s) * experts + e) * capacity + c];
                        if (w == 0f) continue;
                        System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(y.Slice(((e * groups + g) * capacity + c) * model, model), mask ? 1f : w, dst, dst);
                    }
            }
    }

    /// <summary>dcombine [G, S, E, C]: dcombine[g,s,e,c] = dout[g,s]·y[e,g,c] (one GEMM per group and expert).</summary>
    public static unsafe void CombineGradWeights(ReadOnlySpan<float> dout, ReadOnlySpan<float> y, Span<float> dcombine, int groups, int tokens, int experts, int capacity, int model)
    {
        fixed (float* pd = dout, py = y, pc = dcombine)
        {
            for (var g = 0; g < groups; g++)
                for (var e = 0; e < experts; e++)
                    CpuBlas.Sgemm(false, true, tokens, capacity, model, 1f,
                                  pd + (long)g * tokens * model, model,
                                  py + (long)(e * groups + g) * capacity * model, model,
                                  0f, pc + (long)g * tokens * experts * capacity + e * capacity, experts * capacity);
        }
    }
}
