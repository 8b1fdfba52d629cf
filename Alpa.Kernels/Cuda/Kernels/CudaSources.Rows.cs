namespace Alpa.Kernels.Cuda.Kernels;

public static partial class CudaSources
{
    /// <summary>
    /// Row kernels (one block per row of the last axis: softmax, layer norm, cross-entropy),
    /// channel kernels (one block per column: batch norm, the gamma gradients) and embeddings.
    /// </summary>
    public const string Rows = """
        extern "C" __global__ void softmax(const void* x, int tx, void* y, int ty, int cols) {
            __shared__ float sh[32];
            i64 base = (i64)blockIdx.x * cols;
            float m = -3.402823466e38f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, ld(x, tx, base + c));
            m = block_max(m, sh);
            float s = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ld(x, tx, base + c) - m);
            s = block_sum(s, sh);
            for (int c = threadIdx.x; c < cols; c += blockDim.x) st(y, ty, base + c, expf(ld(x, tx, base + c) - m) / s);
        }

        extern "C" __global__ void softmax_grad(const void* y, int ty, const void* dy, int tdy, void* dx, int tdx, int cols) {
            __shared__ float sh[32];
            i64 base = (i64)blockIdx.x * cols;
            float dot = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) dot += ld(y, ty, base + c) * ld(dy, tdy, base + c);
            dot = block_sum(dot, sh);
            for (int c = threadIdx.x; c < cols; c += blockDim.x)
                st(dx, tdx, base + c, ld(y, ty, base + c) * (ld(dy, tdy, base + c) - dot));
        }

        // mean and 1/sqrt(biased variance + eps) of one row, in every thread of the block
        __device__ void row_moments(const void* x, int tx, i64 base, int cols, float eps, float* sh, float* mean, float* rstd) {
            float s = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) s += ld(x, tx, base + c);
            float m = block_sum(s, sh) / cols;
            float v = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) { float d = ld(x, tx, base + c) - m; v += d * d; }
            v = block_sum(v, sh) / cols;
            *mean = m;
            *rstd = rsqrtf(v + eps);
        }

        extern "C" __global__ void layer_norm(const void* x, int tx, const void* g, int tg, const void* b, int tb,
                                              void* y, int ty, int cols, float eps) {
            __shared__ float sh[32];
            i64 base = (i64)blockIdx.x * cols;
            float mean, rstd;
            row_moments(x, tx, base, cols, eps, sh, &mean, &rstd);
            for (int c = threadIdx.x; c < cols; c += blockDim.x)
                st(y, ty, base + c, (ld(x, tx, base + c) - mean) * rstd * ld(g, tg, c) + ld(b, tb, c));
        }

        // dx = rstd (h - mean(h) - xhat mean(h xhat)), h = dy gamma
        extern "C" __global__ void layer_norm_grad_input(const void* x, int tx, const void* g, int tg, const void* dy, int tdy,
                                                         void* dx, int tdx, int cols, float eps) {
            __shared__ float sh[32];
            i64 base = (i64)blockIdx.x * cols;
            float mean, rstd;
            row_moments(x, tx, base, cols, eps, sh, &mean, &rstd);
            float sg = 0.0f, sgx = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) {
                float h = ld(dy, tdy, base + c) * ld(g, tg, c);
                sg += h;
                sgx += h * (ld(x, tx, base + c) - mean) * rstd;
            }
            sg = block_sum(sg, sh) / cols;
            sgx = block_sum(sgx, sh) / cols;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) {
                float h = ld(dy, tdy, base + c) * ld(g, tg, c);
                float xh = (ld(x, tx, base + c) - mean) * rstd;
                st(dx, tdx, base + c, rstd * (h - sg - xh * sgx));
            }
        }

        // per-row mean and rstd into f32 scratch (for the layer-norm gamma gradient)
        extern "C" __global__ void row_stats(const void* x, int tx, float* mean, float* rstd, int cols, float eps) {
            __shared__ float sh[32];
            float m, r;
            row_moments(x, tx, (i64)blockIdx.x * cols, cols, eps, sh, &m, &r);
            if (threadIdx.x == 0) { mean[blockIdx.x] = m; rstd[blockIdx.x] = r; }
        }

        // one block per column c: dgamma[c] = sum_r dy[r,c] xhat[r,c]
        extern "C" __global__ void layer_norm_grad_gamma(const void* x, int tx, const void* dy, int tdy, const float* mean, const float* rstd,
                                                         void* dg, int tdg, int rows, int cols) {
            __shared__ float sh[32];
            int c = blockIdx.x;
            float s = 0.0f;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) {
                i64 i = (i64)r * cols + c;
                s += ld(dy, tdy, i) * (ld(x, tx, i) - mean[r]) * rstd[r];
            }
            s = block_sum(s, sh);
            if (threadIdx.x == 0) st(dg, tdg, c, s);
        }

        // channel statistics of column c over all rows, in every thread of the block
        __device__ void column_moments(const void* x, int tx, int rows, int cols, int c, float eps, float* sh, float* mean, float* rstd) {
            float s = 0.0f;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) s += ld(x, tx, (i64)r * cols + c);
            float m = block_sum(s, sh) / rows;
            float v = 0.0f;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) { float d = ld(x, tx, (i64)r * cols + c) - m; v += d * d; }
            v = block_sum(v, sh) / rows;
            *mean = m;
            *rstd = rsqrtf(v + eps);
        }

        extern "C" __global__ void batch_norm(const void* x, int tx, const void* g, int tg, const void* b, int tb,
                                              void* y, int ty, int rows, int cols, float eps) {
            __shared__ float sh[32];
            int c = blockIdx.x;
            float mean, rstd;
            column_moments(x, tx, rows, cols, c, eps, sh, &mean, &rstd);
            float scale = rstd * ld(g, tg, c), shift = ld(b, tb, c) - mean * scale;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) {
                i64 i = (i64)r * cols + c;
                st(y, ty, i, ld(x, tx, i) * scale + shift);
            }
        }

        extern "C" __global__ void batch_norm_grad_input(const void* x, int tx, const void* g, int tg, const void* dy, int tdy,
                                                         void* dx, int tdx, int rows, int cols, float eps) {
            __shared__ float sh[32];
            int c = blockIdx.x;
            float mean, rstd;
            column_moments(x, tx, rows, cols, c, eps, sh, &mean, &rstd);
            float sd = 0.0f, sdx = 0.0f;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) {
                i64 i = (i64)r * cols + c;
                float d = ld(dy, tdy, i);
                sd += d;
                sdx += d * (ld(x, tx, i) - mean) * rstd;
            }
            sd = block_sum(sd, sh) / rows;
            sdx = block_sum(sdx, sh) / rows;
            float gr = ld(g, tg, c) * rstd;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) {
                i64 i = (i64)r * cols + c;
                float xh = (ld(x, tx, i) - mean) * rstd;
                st(dx, tdx, i, gr * (ld(dy, tdy, i) - sd - xh * sdx));
            }
        }

        extern "C" __global__ void batch_norm_grad_gamma(const void* x, int tx, const void* dy, int tdy, void* dg, int tdg,
                                                         int rows, int cols, float eps) {
            __shared__ float sh[32];
            int c = blockIdx.x;
            float mean, rstd;
            column_moments(x, tx, rows, cols, c, eps, sh, &mean, &rstd);
            float s = 0.0f;
            for (int r = threadIdx.x; r < rows; r += blockDim.x) {
                i64 i = (i64)r * cols + c;
                s += ld(dy, tdy, i) * (ld(x, tx, i) - mean) * rstd;
            }
            s = block_sum(s, sh);
            if (threadIdx.x == 0) st(dg, tdg, c, s);
        }

        // one block per row: loss_sum += (logsumexp(row) - row[label]) / rows; loss_sum is f32, zeroed before
        extern "C" __global__ void cross_entropy(const void* logits, int tl, const int* labels, float* loss_sum, int rows, int cols) {
            __shared__ float sh[32];
            i64 base = (i64)blockIdx.x * cols;
            float m = -3.402823466e38f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, ld(logits, tl, base + c));
            m = block_max(m, sh);
            float s = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ld(logits, tl, base + c) - m);
            s = block_sum(s, sh);
            if (threadIdx.x == 0) {
                int label = labels[blockIdx.x];
                float picked = label >= 0 && label < cols ? ld(logits, tl, base + label) : 0.0f;
                atomicAdd(loss_sum, (logf(s) + m - picked) / rows);
            }
        }

        extern "C" __global__ void cross_entropy_grad(const void* logits, int tl, const int* labels, const void* dloss, int tdl,
                                                      void* dx, int tdx, int rows, int cols) {
            __shared__ float sh[32];
            i64 base = (i64)blockIdx.x * cols;
            float m = -3.402823466e38f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) m = fmaxf(m, ld(logits, tl, base + c));
            m = block_max(m, sh);
            float s = 0.0f;
            for (int c = threadIdx.x; c < cols; c += blockDim.x) s += expf(ld(logits, tl, base + c) - m);
            s = block_sum(s, sh);
            float scale = ld(dloss, tdl, 0) / rows;
            int label = labels[blockIdx.x];
            for (int c = threadIdx.x; c < cols; c += blockDim.x) {
                float p = expf(ld(logits, tl, base + c) - m) / s;
                st(dx, tdx, base + c, (p - (c == label ? 1.0f : 0.0f)) * scale);
            }
        }

        extern "C" __global__ void embedding(const void* table, int tt, const int* ids, void* y, int ty, i64 n, int vocab, int hidden) {
            FOR_N(i, n) {
                int id = ids[i / hidden];
                st(y, ty, i, id >= 0 && id < vocab ? ld(table, tt, (i64)id * hidden + i % hidden) : 0.0f);
            }
        }

        // scatter-add into f32 (zeroed before): acc[ids[t], h] += dy[t, h]
        extern "C" __global__ void embedding_grad(const int* ids, const void* dy, int tdy, float* acc, i64 n, int vocab, int hidden) {
            FOR_N(i, n) {
                int id = ids[i / hidden];
                if (id >= 0 && id < vocab) atomicAdd(acc + (i64)id * hidden + i % hidden, ld(dy, tdy, i));
            }
        }
        """;
}
