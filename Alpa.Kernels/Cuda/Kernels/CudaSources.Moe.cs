namespace Alpa.Kernels.Cuda.Kernels;

public static partial class CudaSources
{
    /// <summary>
    /// GShard top-2 gating and its dispatch/combine einsums. Capacity slots are given in token
    /// order, so the gate runs one thread per group; <c>counts</c> is int scratch [G, E], zeroed.
    /// </summary>
    public const string Moe = """
        // softmax over the experts of one token, the best two (first maximum wins) and their weights
        __device__ void top2(const void* logits, int tl, i64 row, int e_count, int* e1, int* e2, float* p1, float* p2) {
            float m = -3.402823466e38f, s = 0.0f;
            for (int e = 0; e < e_count; ++e) m = fmaxf(m, ld(logits, tl, row + e));
            for (int e = 0; e < e_count; ++e) s += expf(ld(logits, tl, row + e) - m);
            int b1 = 0;
            for (int e = 1; e < e_count; ++e) if (expf(ld(logits, tl, row + e) - m) / s > expf(ld(logits, tl, row + b1) - m) / s) b1 = e;
            int b2 = b1 == 0 ? 1 : 0;
            for (int e = 0; e < e_count; ++e)
                if (e != b1 && expf(ld(logits, tl, row + e) - m) / s > expf(ld(logits, tl, row + b2) - m) / s) b2 = e;
            *e1 = b1;
            *e2 = b2;
            *p1 = expf(ld(logits, tl, row + b1) - m) / s;
            *p2 = e_count > 1 ? expf(ld(logits, tl, row + b2) - m) / s : 0.0f;
        }

        __device__ __forceinline__ int take(int* counts, int e, int capacity) {
            return counts[e] >= capacity ? -1 : counts[e]++;
        }

        // combine [G,S,E,C] is zeroed before
        extern "C" __global__ void moe_gate(const void* logits, int tl, void* combine, int tc, int* counts, int groups, int tokens, int experts, int capacity) {
            FOR_N(g, groups) {
                int* cnt = counts + g * experts;
                for (int s = 0; s < tokens; ++s) {
                    i64 row = ((i64)g * tokens + s) * experts;
                    int e1, e2; float p1, p2;
                    top2(logits, tl, row, experts, &e1, &e2, &p1, &p2);
                    i64 base = row * capacity;
                    if (experts == 1) {
                        int c = take(cnt, e1, capacity);
                        if (c >= 0) st(combine, tc, base + (i64)e1 * capacity + c, 1.0f);
                        continue;
                    }
                    float sum = p1 + p2;
                    int c1 = take(cnt, e1, capacity);
                    int c2 = take(cnt, e2, capacity);
                    if (c1 >= 0) st(combine, tc, base + (i64)e1 * capacity + c1, p1 / sum);
                    if (c2 >= 0) st(combine, tc, base + (i64)e2 * capacity + c2, p2 / sum);
                }
            }
        }

        extern "C" __global__ void moe_gate_grad(const void* logits, int tl, const void* dcombine, int tdc, void* dlogits, int tdl,
                                                 int* counts, int groups, int tokens, int experts, int capacity) {
            FOR_N(g, groups) {
                int* cnt = counts + g * experts;
                for (int s = 0; s < tokens; ++s) {
                    i64 row = ((i64)g * tokens + s) * experts;
                    if (experts == 1) { st(dlogits, tdl, row, 0.0f); continue; }
                    int e1, e2; float p1, p2;
                    top2(logits, tl, row, experts, &e1, &e2, &p1, &p2);
                    int c1 = take(cnt, e1, capacity);
                    int c2 = take(cnt, e2, capacity);
                    i64 base = row * capacity;
                    float dw1 = c1 >= 0 ? ld(dcombine, tdc, base + (i64)e1 * capacity + c1) : 0.0f;
                    float dw2 = c2 >= 0 ? ld(dcombine, tdc, base + (i64)e2 * capacity + c2) : 0.0f;
                    float sum = p1 + p2;
                    float dp1 = p2 * (dw1 - dw2) / (sum * sum), dp2 = p1 * (dw2 - dw1) / (sum * sum);
                    float dot = p1 * dp1 + p2 * dp2;
                    float m = -3.402823466e38f, z = 0.0f;
                    for (int e = 0; e < experts; ++e) m = fmaxf(m, ld(logits, tl, row + e));
                    for (int e = 0; e < experts; ++e) z += expf(ld(logits, tl, row + e) - m);
                    for (int e = 0; e < experts; ++e) {
                        float p = expf(ld(logits, tl, row + e) - m) / z;
                        float dp = e == e1 ? dp1 : (e == e2 ? dp2 : 0.0f);
                        st(dlogits, tdl, row + e, p * (dp - dot));
                    }
                }
            }
        }

        // out[e,g,c,m] = sum_s w[g,s,e,c] x[g,s,m]; w = (combine != 0) when mask, else combine
        extern "C" __global__ void moe_dispatch(const void* x, int tx, const void* comb, int tc, void* y, int ty,
                                                int groups, int tokens, int experts, int capacity, int model, int mask) {
            FOR_N(i, (i64)experts * groups * capacity * model) {
                int m = (int)(i % model), c = (int)((i / model) % capacity);
                int g = (int)((i / ((i64)model * capacity)) % groups), e = (int)(i / ((i64)model * capacity * groups));
                float acc = 0.0f;
                for (int s = 0; s < tokens; ++s) {
                    float w = ld(comb, tc, (((i64)g * tokens + s) * experts + e) * capacity + c);
                    if (w != 0.0f) acc += (mask ? 1.0f : w) * ld(x, tx, ((i64)g * tokens + s) * model + m);
                }
                st(y, ty, i, acc);
            }
        }

        // out[g,s,m] = sum_{e,c} w[g,s,e,c] y[e,g,c,m]
        extern "C" __global__ void moe_combine(const void* y, int ty, const void* comb, int tc, void* out, int to,
                                               int groups, int tokens, int experts, int capacity, int model, int mask) {
            FOR_N(i, (i64)groups * tokens * model) {
                int m = (int)(i % model), s = (int)((i / model) % tokens), g = (int)(i / ((i64)model * tokens));
                float acc = 0.0f;
                for (int e = 0; e < experts; ++e)
                    for (int c = 0; c < capacity; ++c) {
                        float w = ld(comb, tc, (((i64)g * tokens + s) * experts + e) * capacity + c);
                        if (w != 0.0f) acc += (mask ? 1.0f : w) * ld(y, ty, (((i64)e * groups + g) * capacity + c) * model + m);
                    }
                st(out, to, i, acc);
            }
        }

        // dcombine[g,s,e,c] = dot(dout[g,s,:], y[e,g,c,:])
        extern "C" __global__ void moe_combine_grad_weights(const void* dout, int td, const void* y, int ty, void* dc, int tdc,
                                                            int groups, int tokens, int experts, int capacity, int model) {
            FOR_N(i, (i64)groups * tokens * experts * capacity) {
                int c = (int)(i % capacity), e = (int)((i / capacity) % experts);
                int s = (int)((i / ((i64)capacity * experts)) % tokens), g = (int)(i / ((i64)capacity * experts * tokens));
                float acc = 0.0f;
                for (int m = 0; m < model; ++m)
                    acc += ld(dout, td, ((i64)g * tokens + s) * model + m) * ld(y, ty, (((i64)e * groups + g) * capacity + c) * model + m);
                st(dc, tdc, i, acc);
            }
        }
        """;
}
