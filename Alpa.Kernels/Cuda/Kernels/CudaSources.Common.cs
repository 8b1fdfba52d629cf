namespace Alpa.Kernels.Cuda.Kernels;

/// <summary>
/// CUDA C source of every kernel of the CUDA backend, compiled once per process by NVRTC
/// (<see cref="CudaModule"/>). Each float tensor argument comes with a storage code (f32, bf16,
/// i32, or f16 kept as f32): values are loaded to f32, computed and accumulated in f32, and stored
/// in the destination's format. The sources include no header, so that they compile with NVRTC
/// alone and can be syntax-checked by a host C++ compiler against a small stub header.
/// </summary>
public static partial class CudaSources
{
    /// <summary>Storage codes passed to the kernels next to each tensor pointer.</summary>
    public const int F32 = 0, BF16 = 1, I32 = 2, F16 = 3;

    /// <summary>Every kernel source, in the order they are concatenated into one module.</summary>
    public static string All => string.Join("\n", Common, Elementwise, Rows, Layout, Reductions, Moe, Convolution);

    /// <summary>Types, load/store in every storage format, grid-stride loop and block reductions.</summary>
    public const string Common = """
        typedef long long i64;
        #define T_F32 0
        #define T_BF16 1
        #define T_I32 2
        #define T_F16 3
        #define MAX_RANK 8
        struct Dims { i64 d[MAX_RANK]; };

        #define FOR_N(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)blockDim.x * gridDim.x)

        __device__ __forceinline__ float bf16_to_f32(unsigned short b) { return __uint_as_float(((unsigned int)b) << 16); }

        // round to nearest even; NaN stays a quiet NaN
        __device__ __forceinline__ unsigned short f32_to_bf16(float f) {
            unsigned int u = __float_as_uint(f);
            if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)0x7fc0u;
            u += 0x7fffu + ((u >> 16) & 1u);
            return (unsigned short)(u >> 16);
        }

        // the nearest IEEE half value, kept in an f32 (f16 tensors are stored as f32)
        __device__ __forceinline__ float round_half(float f) {
            unsigned int u = __float_as_uint(f);
            unsigned int a = u & 0x7fffffffu;
            if (a >= 0x7f800000u) return f;
            if (a >= 0x477ff000u) return __uint_as_float((u & 0x80000000u) | 0x7f800000u);
            if (a < 0x38800000u) { const float q = 5.9604644775390625e-8f; return rintf(f / q) * q; }
            u += 0xfffu + ((u >> 13) & 1u);
            return __uint_as_float(u & 0xffffe000u);
        }

        __device__ __forceinline__ float ld(const void* p, int t, i64 i) {
            if (t == T_BF16) return bf16_to_f32(((const unsigned short*)p)[i]);
            if (t == T_I32) return (float)((const int*)p)[i];
            return ((const float*)p)[i];
        }

        __device__ __forceinline__ void st(void* p, int t, i64 i, float v) {
            if (t == T_BF16) ((unsigned short*)p)[i] = f32_to_bf16(v);
            else if (t == T_I32) ((int*)p)[i] = (int)v;
            else if (t == T_F16) ((float*)p)[i] = round_half(v);
            else ((float*)p)[i] = v;
        }

        // copies one element of 2 or 4 bytes without conversion (layout ops)
        __device__ __forceinline__ void move(void* y, i64 j, const void* x, i64 i, int esize) {
            if (esize == 2) ((unsigned short*)y)[j] = ((const unsigned short*)x)[i];
            else ((unsigned int*)y)[j] = ((const unsigned int*)x)[i];
        }

        __device__ __forceinline__ void zero(void* y, i64 j, int esize) {
            if (esize == 2) ((unsigned short*)y)[j] = (unsigned short)0;
            else ((unsigned int*)y)[j] = 0u;
        }

        // block-wide sum and max; blockDim.x is a multiple of 32 (at most 1024)
        __device__ float block_sum(float v, float* sh) {
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            __syncthreads();
            if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
            __syncthreads();
            float t = 0.0f;
            for (int k = 0; k < (int)(blockDim.x >> 5); ++k) t += sh[k];
            return t;
        }

        __device__ float block_max(float v, float* sh) {
            for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
            __syncthreads();
            if ((threadIdx.x & 31) == 0) sh[threadIdx.x >> 5] = v;
            __syncthreads();
            float t = sh[0];
            for (int k = 1; k < (int)(blockDim.x >> 5); ++k) t = fmaxf(t, sh[k]);
            return t;
        }

        __device__ __forceinline__ float gelu_f(float x) {
            const float c = 0.7978845608028654f;
            return 0.5f * x * (1.0f + tanhf(c * (x + 0.044715f * x * x * x)));
        }

        __device__ __forceinline__ float gelu_grad_f(float x) {
            const float c = 0.7978845608028654f;
            float t = tanhf(c * (x + 0.044715f * x * x * x));
            return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * c * (1.0f + 3.0f * 0.044715f * x * x);
        }
        """;
}
