// CPU emulation of the CUDA built-ins the Alpa kernels use (test-only). Each block of a launch
// runs its threads as real std::threads (one block at a time), so __syncthreads, warp shuffles,
// __shared__ memory and atomics behave as on a GPU, only slowly.
#include <math.h>
#include <string.h>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct emu_dim3 { unsigned int x, y, z; };
static thread_local emu_dim3 threadIdx;
static emu_dim3 blockIdx, blockDim, gridDim;

struct emu_barrier {
    std::mutex m; std::condition_variable cv; unsigned count = 0, total = 0, generation = 0;
    void wait() {
        std::unique_lock<std::mutex> lock(m);
        unsigned g = generation;
        if (++count == total) { count = 0; ++generation; cv.notify_all(); }
        else cv.wait(lock, [&] { return g != generation; });
    }
};
static emu_barrier emu_sync;
static float emu_lanes[1024];
static std::mutex emu_atomic;

inline void __syncthreads() { emu_sync.wait(); }
inline float __uint_as_float(unsigned int u) { float f; memcpy(&f, &u, 4); return f; }
inline unsigned int __float_as_uint(float f) { unsigned int u; memcpy(&u, &f, 4); return u; }
inline float rsqrtf(float v) { return 1.0f / sqrtf(v); }
inline float __shfl_xor_sync(unsigned int, float v, int lane_mask) {
    emu_lanes[threadIdx.x] = v;
    emu_sync.wait();
    float r = emu_lanes[threadIdx.x ^ (unsigned)lane_mask];
    emu_sync.wait();
    return r;
}
inline float atomicAdd(float* p, float v) { std::lock_guard<std::mutex> g(emu_atomic); float o = *p; *p = o + v; return o; }

template <class... A, size_t... I>
void emu_invoke(void (*f)(A...), void** p, std::index_sequence<I...>) { f(*static_cast<A*>(p[I])...); }

// runs the grid: blocks one after another, the threads of a block concurrently
template <class... A>
void emu_launch(void (*f)(A...), void** p, unsigned gx, unsigned bx) {
    gridDim = {gx, 1, 1};
    blockDim = {bx, 1, 1};
    emu_sync.total = bx;
    for (unsigned b = 0; b < gx; ++b) {
        blockIdx = {b, 0, 0};
        std::vector<std::thread> threads;
        for (unsigned t = 0; t < bx; ++t)
            threads.emplace_back([=] { threadIdx = {t, 0, 0}; emu_invoke(f, p, std::index_sequence_for<A...>{}); });
        for (auto& th : threads) th.join();
    }
}
