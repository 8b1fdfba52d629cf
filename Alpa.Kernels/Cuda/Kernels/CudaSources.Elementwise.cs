namespace Alpa.Kernels.Cuda.Kernels;

public static partial class CudaSources
{
    /// <summary>Operation codes of <c>binary</c> (Broadcast is <see cref="BinaryCopy"/>).</summary>
    public const int BinaryAdd = 0, BinarySub = 1, BinaryMul = 2, BinaryDiv = 3, BinaryCopy = 4;

    /// <summary>Operation codes of <c>unary</c>.</summary>
    public const int UnaryScale = 0, UnaryGelu = 1, UnaryRelu = 2, UnaryTanh = 3, UnaryExp = 4, UnarySqrt = 5, UnaryCast = 6;

    /// <summary>Operation codes of <c>unary_grad</c>.</summary>
    public const int GradGelu = 0, GradRelu = 1, GradTanh = 2;

    /// <summary>Element-wise, broadcasting, masking and optimizer kernels (grid-stride loops).</summary>
    public const string Elementwise = """
        extern "C" __global__ void fill(void* y, int ty, i64 n, float v) {
            FOR_N(i, n) st(y, ty, i, v);
        }

        // y[i] = a[..] op b[..] with NumPy broadcasting: strides are 0 on broadcast axes
        extern "C" __global__ void binary(int op, const void* a, int ta, const void* b, int tb, void* y, int ty,
                                          i64 n, int rank, Dims shape, Dims sa, Dims sb) {
            FOR_N(i, n) {
                i64 r = i, oa = 0, ob = 0;
                for (int k = rank - 1; k >= 0; --k) {
                    i64 c = r % shape.d[k];
                    r /= shape.d[k];
                    oa += c * sa.d[k];
                    ob += c * sb.d[k];
                }
                float p = ld(a, ta, oa);
                float q = op == 4 ? 0.0f : ld(b, tb, ob);
                float v;
                switch (op) {
                    case 0: v = p + q; break;
                    case 1: v = p - q; break;
                    case 2: v = p * q; break;
                    case 3: v = p / q; break;
                    default: v = p; break;
                }
                st(y, ty, i, v);
            }
        }

        extern "C" __global__ void unary(int op, const void* x, int tx, void* y, int ty, i64 n, float value) {
            FOR_N(i, n) {
                float v = ld(x, tx, i);
                switch (op) {
                    case 0: v = v * value; break;
                    case 1: v = gelu_f(v); break;
                    case 2: v = v > 0.0f ? v : 0.0f; break;
                    case 3: v = tanhf(v); break;
                    case 4: v = expf(v); break;
                    case 5: v = sqrtf(v); break;
                    default: break;
                }
                st(y, ty, i, v);
            }
        }

        // dx from the forward input x (gelu, relu) or the forward output y (tanh) and dy
        extern "C" __global__ void unary_grad(int op, const void* x, int tx, const void* dy, int tdy, void* dx, int tdx, i64 n) {
            FOR_N(i, n) {
                float v = ld(x, tx, i), g = ld(dy, tdy, i), d;
                switch (op) {
                    case 0: d = g * gelu_grad_f(v); break;
                    case 1: d = v > 0.0f ? g : 0.0f; break;
                    default: d = g * (1.0f - v * v); break;
                }
                st(dx, tdx, i, d);
            }
        }

        extern "C" __global__ void causal_mask(const void* x, int tx, void* y, int ty, i64 n, int q, int k, float value) {
            FOR_N(i, n) {
                i64 kk = i % k, qq = (i / k) % q;
                st(y, ty, i, kk > qq ? value : ld(x, tx, i));
            }
        }

        extern "C" __global__ void clip_coefficient(const void* s, int ts, void* y, int ty, float max_norm) {
            if (blockIdx.x == 0 && threadIdx.x == 0) {
                float c = max_norm / (sqrtf(ld(s, ts, 0)) + 1e-6f);
                st(y, ty, 0, c < 1.0f ? c : 1.0f);
            }
        }

        extern "C" __global__ void sgd_momentum(const void* buf, int tb, const void* g, int tg, void* y, int ty, i64 n, float momentum) {
            FOR_N(i, n) st(y, ty, i, momentum * ld(buf, tb, i) + ld(g, tg, i));
        }

        extern "C" __global__ void sgd_update(const void* p, int tp, const void* d, int td, const void* lr, int tlr,
                                              void* y, int ty, i64 n, float weight_decay) {
            float rate = ld(lr, tlr, 0);
            FOR_N(i, n) {
                float w = ld(p, tp, i);
                st(y, ty, i, w - rate * (ld(d, td, i) + weight_decay * w));
            }
        }

        extern "C" __global__ void adam_moment(const void* m, int tm, const void* g, int tg, void* y, int ty, i64 n, float beta, int square) {
            FOR_N(i, n) {
                float v = ld(g, tg, i);
                st(y, ty, i, beta * ld(m, tm, i) + (1.0f - beta) * (square ? v * v : v));
            }
        }

        extern "C" __global__ void adam_update(const void* p, int tp, const void* m, int tm, const void* v, int tv,
                                               const void* lr, int tlr, const void* step, int tstep, void* y, int ty, i64 n,
                                               float beta1, float beta2, float eps, float weight_decay) {
            float rate = ld(lr, tlr, 0), t = ld(step, tstep, 0);
            float c1 = (float)(1.0 / (1.0 - pow((double)beta1, (double)t)));
            float c2 = (float)(1.0 / (1.0 - pow((double)beta2, (double)t)));
            FOR_N(i, n) {
                float w = ld(p, tp, i);
                float mh = ld(m, tm, i) * c1, vh = ld(v, tv, i) * c2;
                st(y, ty, i, w - rate * (mh / (sqrtf(vh) + eps) + weight_decay * w));
            }
        }
        """;
}
