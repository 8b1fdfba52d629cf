namespace Alpa.Kernels.Cuda.Kernels;

public static partial class CudaSources
{
    /// <summary>Operation codes of <c>reduce</c>.</summary>
    public const int ReduceSum = 0, ReduceMean = 1, ReduceMax = 2;

    /// <summary>Layout kernels: they move elements of 2 or 4 bytes without conversion.</summary>
    public const string Layout = """
        // y[i] = x[sum_k c_k stride_k], c the coordinates of i in y's shape; strides of x permuted to y's axes
        extern "C" __global__ void permute(const void* x, void* y, int esize, i64 n, int rank, Dims shape, Dims strides) {
            FOR_N(i, n) {
                i64 r = i, o = 0;
                for (int k = rank - 1; k >= 0; --k) { o += (r % shape.d[k]) * strides.d[k]; r /= shape.d[k]; }
                move(y, i, x, o, esize);
            }
        }

        // x viewed as [outer, size, inner]: y = x[:, start:end, :]
        extern "C" __global__ void slice(const void* x, void* y, int esize, i64 outer, i64 size, i64 inner, i64 start, i64 end) {
            i64 part = end - start;
            FOR_N(i, outer * part * inner) {
                i64 in = i % inner, s = (i / inner) % part, o = i / (inner * part);
                move(y, i, x, (o * size + start + s) * inner + in, esize);
            }
        }

        // y viewed as [outer, total, inner]: y[:, offset:offset+part, :] = x
        extern "C" __global__ void concat_part(const void* x, void* y, int esize, i64 outer, i64 part, i64 total, i64 inner, i64 offset) {
            FOR_N(i, outer * part * inner) {
                i64 in = i % inner, s = (i / inner) % part, o = i / (inner * part);
                move(y, (o * total + offset + s) * inner + in, x, i, esize);
            }
        }

        // y viewed as [outer, size, inner]: zeros with dy at [:, start:end, :]
        extern "C" __global__ void slice_grad(const void* dy, void* y, int esize, i64 outer, i64 size, i64 inner, i64 start, i64 end) {
            i64 part = end - start;
            FOR_N(i, outer * size * inner) {
                i64 in = i % inner, s = (i / inner) % size, o = i / (inner * size);
                if (s >= start && s < end) move(y, i, dy, (o * part + s - start) * inner + in, esize);
                else zero(y, i, esize);
            }
        }
        """;

    /// <summary>Reductions over any set of axes: one thread per output element.</summary>
    public const string Reductions = """
        __device__ __forceinline__ i64 kept_offset(i64 i, int kr, const Dims& ks, const Dims& kst) {
            i64 o = 0;
            for (int k = kr - 1; k >= 0; --k) { o += (i % ks.d[k]) * kst.d[k]; i /= ks.d[k]; }
            return o;
        }

        // kept axes (ks, kst) index the output; reduced axes (rs, rst) are walked for each output
        extern "C" __global__ void reduce(int op, const void* x, int tx, void* y, int ty, i64 n_out, i64 count,
                                          int kr, Dims ks, Dims kst, int rr, Dims rs, Dims rst) {
            FOR_N(i, n_out) {
                i64 base = kept_offset(i, kr, ks, kst);
                float acc = op == 2 ? -3.402823466e38f : 0.0f;
                for (i64 j = 0; j < count; ++j) {
                    float v = ld(x, tx, base + kept_offset(j, rr, rs, rst));
                    acc = op == 2 ? fmaxf(acc, v) : acc + v;
                }
                st(y, ty, i, op == 1 ? acc / count : acc);
            }
        }

        // dx = dy at the first maximum of each reduced set, zero elsewhere
        extern "C" __global__ void reduce_max_grad(const void* x, int tx, const void* dy, int tdy, void* dx, int tdx, i64 n_out, i64 count,
                                                   int kr, Dims ks, Dims kst, int rr, Dims rs, Dims rst) {
            FOR_N(i, n_out) {
                i64 base = kept_offset(i, kr, ks, kst), best = 0;
                float m = -3.402823466e38f;
                for (i64 j = 0; j < count; ++j) {
                    float v = ld(x, tx, base + kept_offset(j, rr, rs, rst));
                    if (v > m) { m = v; best = j; }
                }
                float g = ld(dy, tdy, i);
                for (i64 j = 0; j < count; ++j) st(dx, tdx, base + kept_offset(j, rr, rs, rst), j == best ? g : 0.0f);
            }
        }
        """;
}
