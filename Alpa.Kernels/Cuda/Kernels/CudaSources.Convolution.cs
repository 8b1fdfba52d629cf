namespace Alpa.Kernels.Cuda.Kernels;

public static partial class CudaSources
{
    /// <summary>
    /// NHWC convolution (weights [KH,KW,Cin,Cout]) and pooling, one thread per output element
    /// (per input element for the input gradients, so that nothing needs atomics). <c>Conv</c>
    /// holds the geometry: n, h, w, ci, kh, kw, co, stride, pad, oh, ow.
    /// </summary>
    public const string Convolution = """
        struct Conv { int n, h, w, ci, kh, kw, co, stride, pad, oh, ow; };

        extern "C" __global__ void conv2d(const void* x, int tx, const void* wt, int tw, void* y, int ty, Conv g) {
            FOR_N(i, (i64)g.n * g.oh * g.ow * g.co) {
                int co = (int)(i % g.co), ow = (int)((i / g.co) % g.ow), oh = (int)((i / ((i64)g.co * g.ow)) % g.oh);
                int n = (int)(i / ((i64)g.co * g.ow * g.oh));
                float acc = 0.0f;
                for (int a = 0; a < g.kh; ++a) {
                    int h = oh * g.stride - g.pad + a;
                    if (h < 0 || h >= g.h) continue;
                    for (int b = 0; b < g.kw; ++b) {
                        int w = ow * g.stride - g.pad + b;
                        if (w < 0 || w >= g.w) continue;
                        i64 xi = (((i64)n * g.h + h) * g.w + w) * g.ci, wi = (((i64)a * g.kw + b) * g.ci) * g.co + co;
                        for (int c = 0; c < g.ci; ++c) acc += ld(x, tx, xi + c) * ld(wt, tw, wi + (i64)c * g.co);
                    }
                }
                st(y, ty, i, acc);
            }
        }

        extern "C" __global__ void conv2d_grad_input(const void* dy, int tdy, const void* wt, int tw, void* dx, int tdx, Conv g) {
            FOR_N(i, (i64)g.n * g.h * g.w * g.ci) {
                int c = (int)(i % g.ci), w = (int)((i / g.ci) % g.w), h = (int)((i / ((i64)g.ci * g.w)) % g.h);
                int n = (int)(i / ((i64)g.ci * g.w * g.h));
                float acc = 0.0f;
                for (int a = 0; a < g.kh; ++a) {
                    int t = h + g.pad - a;
                    if (t < 0 || t % g.stride != 0 || t / g.stride >= g.oh) continue;
                    for (int b = 0; b < g.kw; ++b) {
                        int u = w + g.pad - b;
                        if (u < 0 || u % g.stride != 0 || u / g.stride >= g.ow) continue;
                        i64 yi = (((i64)n * g.oh + t / g.stride) * g.ow + u / g.stride) * g.co, wi = (((i64)a * g.kw + b) * g.ci + c) * g.co;
                        for (int o = 0; o < g.co; ++o) acc += ld(dy, tdy, yi + o) * ld(wt, tw, wi + o);
                    }
                }
                st(dx, tdx, i, acc);
            }
        }

        extern "C" __global__ void conv2d_grad_weight(const void* x, int tx, const void* dy, int tdy, void* dw, int tdw, Conv g) {
            FOR_N(i, (i64)g.kh * g.kw * g.ci * g.co) {
                int o = (int)(i % g.co), c = (int)((i / g.co) % g.ci), b = (int)((i / ((i64)g.co * g.ci)) % g.kw);
                int a = (int)(i / ((i64)g.co * g.ci * g.kw));
                float acc = 0.0f;
                for (int n = 0; n < g.n; ++n)
                    for (int oh = 0; oh < g.oh; ++oh) {
                        int h = oh * g.stride - g.pad + a;
                        if (h < 0 || h >= g.h) continue;
                        for (int ow = 0; ow < g.ow; ++ow) {
                            int w = ow * g.stride - g.pad + b;
                            if (w < 0 || w >= g.w) continue;
                            acc += ld(x, tx, (((i64)n * g.h + h) * g.w + w) * g.ci + c) * ld(dy, tdy, (((i64)n * g.oh + oh) * g.ow + ow) * g.co + o);
                        }
                    }
                st(dw, tdw, i, acc);
            }
        }

        // first maximum of window (oh, ow) of channel c: its flat input index, padded positions ignored
        __device__ i64 window_argmax(const void* x, int tx, const Conv& g, int n, int oh, int ow, int c) {
            i64 best = -1;
            float m = -3.402823466e38f;
            for (int a = 0; a < g.kh; ++a) {
                int h = oh * g.stride - g.pad + a;
                if (h < 0 || h >= g.h) continue;
                for (int b = 0; b < g.kw; ++b) {
                    int w = ow * g.stride - g.pad + b;
                    if (w < 0 || w >= g.w) continue;
                    i64 xi = (((i64)n * g.h + h) * g.w + w) * g.ci + c;
                    float v = ld(x, tx, xi);
                    if (best < 0 || v > m) { m = v; best = xi; }
                }
            }
            return best;
        }

        // avg != 0: average pooling (padding counted as zeros, divisor kh*kw), else max pooling
        extern "C" __global__ void pool(int avg, const void* x, int tx, void* y, int ty, Conv g) {
            FOR_N(i, (i64)g.n * g.oh * g.ow * g.ci) {
                int c = (int)(i % g.ci), ow = (int)((i / g.ci) % g.ow), oh = (int)((i / ((i64)g.ci * g.ow)) % g.oh);
                int n = (int)(i / ((i64)g.ci * g.ow * g.oh));
                if (!avg) { i64 b = window_argmax(x, tx, g, n, oh, ow, c); st(y, ty, i, b >= 0 ? ld(x, tx, b) : 0.0f); continue; }
                float acc = 0.0f;
                for (int a = 0; a < g.kh; ++a) {
                    int h = oh * g.stride - g.pad + a;
                    if (h < 0 || h >= g.h) continue;
                    for (int b = 0; b < g.kw; ++b) {
                        int w = ow * g.stride - g.pad + b;
                        if (w >= 0 && w < g.w) acc += ld(x, tx, (((i64)n * g.h + h) * g.w + w) * g.ci + c);
                    }
                }
                st(y, ty, i, acc / (g.kh * g.kw));
            }
        }

        // one thread per input element: sums dy over the windows that contain it (x is unused when avg)
        extern "C" __global__ void pool_grad(int avg, const void* x, int tx, const void* dy, int tdy, void* dx, int tdx, Conv g) {
            FOR_N(i, (i64)g.n * g.h * g.w * g.ci) {
                int c = (int)(i % g.ci), w = (int)((i / g.ci) % g.w), h = (int)((i / ((i64)g.ci * g.w)) % g.h);
                int n = (int)(i / ((i64)g.ci * g.w * g.h));
                float acc = 0.0f;
                for (int a = 0; a < g.kh; ++a) {
                    int t = h + g.pad - a;
                    if (t < 0 || t % g.stride != 0 || t / g.stride >= g.oh) continue;
                    for (int b = 0; b < g.kw; ++b) {
                        int u = w + g.pad - b;
                        if (u < 0 || u % g.stride != 0 || u / g.stride >= g.ow) continue;
                        int oh = t / g.stride, ow = u / g.stride;
                        float d = ld(dy, tdy, (((i64)n * g.oh + oh) * g.ow + ow) * g.ci + c);
                        if (avg) acc += d / (g.kh * g.kw);
                        else if (window_argmax(x, tx, g, n, oh, ow, c) == i) acc += d;
                    }
                }
                st(dx, tdx, i, acc);
            }
        }
        """;
}
