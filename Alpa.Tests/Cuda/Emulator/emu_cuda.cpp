// A CPU stand-in for libcuda, libnvrtc and libcublas (test-only): the subset of the driver API,
// NVRTC and cuBLAS that Alpa.Kernels/Cuda binds, so that the real C# backend runs end to end on
// a machine without a GPU. "Compiling" runs g++ on the kernel source with emu_kernel.h and the
// "cubin" is the path of the shared object; a launch calls the kernel's generated wrapper.
// Build: g++ -std=c++17 -shared -fPIC -O1 -DEMU_HEADER='"/abs/emu_kernel.h"' emu_cuda.cpp -o libemucuda.so -ldl -lpthread
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <string>

typedef unsigned long long CUdeviceptr;
typedef int CUresult;
#define API extern "C" __attribute__((visibility("default")))

API CUresult cuInit(unsigned) { return 0; }
API CUresult cuDriverGetVersion(int* v) { *v = 12040; return 0; }
API CUresult cuDeviceGetCount(int* n) { *n = 1; return 0; }
API CUresult cuDeviceGet(int* d, int ordinal) { *d = ordinal; return ordinal == 0 ? 0 : 101; }
API CUresult cuDeviceGetName(char* name, int len, int) { snprintf(name, len, "CPU emulator"); return 0; }
API CUresult cuDeviceGetAttribute(int* v, int attribute, int) {
    switch (attribute) { case 1: *v = 1024; break; case 16: *v = 1; break; case 75: *v = 8; break; case 76: *v = 0; break; default: *v = 0; }
    return 0;
}
API CUresult cuDeviceTotalMem_v2(size_t* bytes, int) { *bytes = (size_t)1 << 32; return 0; }
static int s_context;
API CUresult cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = &s_context; return 0; }
API CUresult cuDevicePrimaryCtxRelease_v2(int) { return 0; }
API CUresult cuCtxSetCurrent(void* ctx) { return ctx == &s_context ? 0 : 201; }
API CUresult cuStreamCreate(void** s, unsigned) { *s = malloc(1); return 0; }
API CUresult cuStreamDestroy_v2(void* s) { free(s); return 0; }
API CUresult cuStreamSynchronize(void*) { return 0; }
API CUresult cuEventCreate(void** e, unsigned) { *e = malloc(1); return 0; }
API CUresult cuEventRecord(void*, void*) { return 0; }
API CUresult cuEventSynchronize(void*) { return 0; }
API CUresult cuEventElapsedTime(float* ms, void*, void*) { *ms = 1.0f; return 0; }
API CUresult cuEventDestroy_v2(void* e) { free(e); return 0; }
API CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) { *p = (CUdeviceptr)malloc(n ? n : 1); memset((void*)*p, 0xCD, n); return 0; }
API CUresult cuMemFree_v2(CUdeviceptr p) { free((void*)p); return 0; }
API CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* h, size_t n, void*) { memcpy((void*)d, h, n); return 0; }
API CUresult cuMemcpyDtoHAsync_v2(void* h, CUdeviceptr d, size_t n, void*) { memcpy(h, (void*)d, n); return 0; }
API CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void*) { memmove((void*)d, (void*)s, n); return 0; }
API CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void*) { memset((void*)d, v, n); return 0; }
API CUresult cuModuleLoadData(void** m, const void* image) {
    std::string so = (const char*)image;
    *m = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!*m) { fprintf(stderr, "emulator: %s\n", dlerror()); return 200; }
    unlink(so.c_str());                                   // the mapping stays valid
    rmdir(so.substr(0, so.rfind('/')).c_str());
    return 0;
}
API CUresult cuModuleUnload(void* m) { dlclose(m); return 0; }
API CUresult cuModuleGetFunction(void** f, void* m, const char* name) {
    *f = dlsym(m, (std::string("emu_") + name).c_str());
    return *f ? 0 : 500;
}
typedef void (*Wrapper)(void**, unsigned, unsigned);
API CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                            unsigned shared, void*, void** params, void** extra) {
    if (gy != 1 || gz != 1 || by != 1 || bz != 1 || shared != 0 || extra != nullptr || bx == 0 || bx > 1024) return 1;
    ((Wrapper)f)(params, gx, bx);
    return 0;
}
API CUresult cuGetErrorString(int, const char** s) { *s = "emulated error"; return 0; }

// ── NVRTC ────────────────────────────────────────────────────────────────────────────────────
struct Program { std::string source, log, image; };
API int nvrtcVersion(int* major, int* minor) { *major = 12; *minor = 4; return 0; }
API int nvrtcCreateProgram(Program** p, const char* src, const char*, int, const char**, const char**) { *p = new Program{src, "", ""}; return 0; }
API int nvrtcDestroyProgram(Program** p) { delete *p; *p = nullptr; return 0; }
API int nvrtcCompileProgram(Program* p, int count, const char** options) {
    bool arch = false;
    for (int i = 0; i < count; ++i) arch |= strncmp(options[i], "--gpu-architecture=sm_", 22) == 0;
    if (!arch) { p->log = "no --gpu-architecture=sm_XY option"; return 5; }
    std::string wrappers;
    const char* marker = "extern \"C\" __global__ void ";
    for (size_t at = p->source.find(marker); at != std::string::npos; at = p->source.find(marker, at + 1)) {
        size_t start = at + strlen(marker), end = p->source.find('(', start);
        std::string name = p->source.substr(start, end - start);
        wrappers += "extern \"C\" void emu_" + name + "(void** p, unsigned gx, unsigned bx) { emu_launch(" + name + ", p, gx, bx); }\n";
    }
    char dir[] = "/tmp/alpa-emu-XXXXXX";
    if (!mkdtemp(dir)) return 11;
    std::string cpp = std::string(dir) + "/kernels.cpp", so = std::string(dir) + "/kernels.so", log = std::string(dir) + "/log.txt";
    FILE* f = fopen(cpp.c_str(), "w");
    fprintf(f, "#include %s\n%s\n%s", EMU_HEADER, p->source.c_str(), wrappers.c_str());
    fclose(f);
    std::string cmd = "g++ -std=c++17 -O1 -shared -fPIC -o " + so + " " + cpp + " -lpthread > " + log + " 2>&1";
    int rc = system(cmd.c_str());
    FILE* l = fopen(log.c_str(), "r");
    char buf[4096]; size_t n;
    while (l && (n = fread(buf, 1, sizeof buf, l)) > 0) p->log.append(buf, n);
    if (l) fclose(l);
    unlink(cpp.c_str());
    unlink(log.c_str());
    p->image = so;
    return rc == 0 ? 0 : 6;
}
API int nvrtcGetProgramLogSize(Program* p, size_t* n) { *n = p->log.size() + 1; return 0; }
API int nvrtcGetProgramLog(Program* p, char* out) { memcpy(out, p->log.c_str(), p->log.size() + 1); return 0; }
API int nvrtcGetCUBINSize(Program* p, size_t* n) { *n = p->image.size() + 1; return 0; }
API int nvrtcGetCUBIN(Program* p, char* out) { memcpy(out, p->image.c_str(), p->image.size() + 1); return 0; }

// ── cuBLAS (column-major, as the real one) ───────────────────────────────────────────────────
static float load(const void* p, int type, long long i) {
    if (type == 14) { unsigned int u = (unsigned int)((const unsigned short*)p)[i] << 16; float f; memcpy(&f, &u, 4); return f; }
    return ((const float*)p)[i];
}
static void store(void* p, int type, long long i, float v) {
    if (type == 14) { unsigned int u; memcpy(&u, &v, 4); u += 0x7fffu + ((u >> 16) & 1u); ((unsigned short*)p)[i] = (unsigned short)(u >> 16); }
    else ((float*)p)[i] = v;
}
API int cublasCreate_v2(void** h) { *h = malloc(1); return 0; }
API int cublasDestroy_v2(void* h) { free(h); return 0; }
API int cublasSetStream_v2(void*, void*) { return 0; }
API int cublasGemmStridedBatchedEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda, long long sa,
                                   const void* B, int bt, int ldb, long long sb, const void* beta, void* C, int ct, int ldc, long long sc,
                                   int batch, int compute, int) {
    if (compute != 68 && compute != 77) return 7;
    float al = *(const float*)alpha, be = *(const float*)beta;
    for (int q = 0; q < batch; ++q)
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
                float s = 0;
                for (int p = 0; p < k; ++p) {
                    float x = ta == 0 ? load(A, at, q * sa + i + (long long)p * lda) : load(A, at, q * sa + p + (long long)i * lda);
                    float y = tb == 0 ? load(B, bt, q * sb + p + (long long)j * ldb) : load(B, bt, q * sb + j + (long long)p * ldb);
                    s += x * y;
                }
                long long c = q * sc + i + (long long)j * ldc;
                store(C, ct, c, al * s + (be != 0 ? be * load(C, ct, c) : 0.0f));
            }
    return 0;
}
API int cublasGemmEx(void* h, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda,
                     const void* B, int bt, int ldb, const void* beta, void* C, int ct, int ldc, int compute, int algo) {
    return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, alpha, A, at, lda, 0, B, bt, ldb, 0, beta, C, ct, ldc, 0, 1, compute, algo);
}

// ── NCCL, single rank only: every collective hands the rank its own data ─────────────────────
static size_t elem(int type) { return type == 9 ? 2 : type == 6 ? 2 : type == 4 || type == 5 || type == 8 ? 8 : type <= 1 ? 1 : 4; }
static const void* s_pending_send;
API int ncclGetUniqueId(void* id) { memset(id, 0, 128); return 0; }
struct UniqueId { char internal[128]; };   // passed by value, as nccl.h declares it
API int ncclCommInitRank(void** comm, int nranks, UniqueId id, int rank) { (void)id; *comm = malloc(1); return nranks == 1 && rank == 0 ? 0 : 4; }
API int ncclCommDestroy(void* comm) { free(comm); return 0; }
API int ncclAllReduce(const void* s, void* r, size_t n, int t, int, void*, void*) { memmove(r, s, n * elem(t)); return 0; }
API int ncclAllGather(const void* s, void* r, size_t n, int t, void*, void*) { memmove(r, s, n * elem(t)); return 0; }
API int ncclReduceScatter(const void* s, void* r, size_t n, int t, int, void*, void*) { memmove(r, s, n * elem(t)); return 0; }
API int ncclSend(const void* s, size_t, int, int peer, void*, void*) { s_pending_send = s; return peer == 0 ? 0 : 4; }
API int ncclRecv(void* r, size_t n, int t, int peer, void*, void*) { if (peer != 0 || !s_pending_send) return 4; memmove(r, s_pending_send, n * elem(t)); s_pending_send = nullptr; return 0; }
API int ncclGroupStart() { return 0; }
API int ncclGroupEnd() { return 0; }
API const char* ncclGetErrorString(int) { return "emulated NCCL error"; }

// PTX entry points and the architecture list (the emulator always produces its "cubin")
API int nvrtcGetPTXSize(Program* p, size_t* n) { return nvrtcGetCUBINSize(p, n); }
API int nvrtcGetPTX(Program* p, char* out) { return nvrtcGetCUBIN(p, out); }
API int nvrtcGetNumSupportedArchs(int* n) { *n = 2; return 0; }
API int nvrtcGetSupportedArchs(int* archs) { archs[0] = 80; archs[1] = 90; return 0; }
