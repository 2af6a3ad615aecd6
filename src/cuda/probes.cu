/* probes.cu — Hutchinson probes through cuRAND's device API: thread w draws word w of the
 * probe's stream (curand_init(seed, subsequence, w), curand) for Rademacher entries (32 per
 * word), thread b Philox block b (curand_init(seed, subsequence, 4b), curand_normal4) for
 * Gaussian ones; every store coalesced. */
#include "cuda_check.cuh"
#include "../common/probes.h"

#include <curand_kernel.h>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

/* Lane l of a warp draws word w0 + l of the stream (w0: the warp's first word); then the warp
 * writes its 32 words' 1024 entries a word at a time — entry 32 (w0 + k) + l from word w0 + k,
 * handed round by a shuffle — so that each store instruction writes 128 contiguous bytes (a
 * thread writing its own word's 32 entries touches 32 lines per instruction). */
__global__ void __launch_bounds__(kThreads)
    rademacher_kernel(unsigned long long seed, unsigned long long sub, float *out, int64_t n) {
    const int64_t w = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    const int lane = (int)(threadIdx.x % 32);
    const int64_t w0 = w - lane;
    if (w0 * 32 >= n) return; /* the whole warp: w0 is the warp's */
    curandStatePhilox4_32_10_t state;
    curand_init(seed, sub, (unsigned long long)w, &state);
    const uint32_t word = curand(&state);
    for (int k = 0; k < 32; ++k) {
        const uint32_t word_k = __shfl_sync(0xffffffffu, word, k);
        const int64_t i = (w0 + k) * 32 + lane;
        if (i < n) out[i] = optk_rademacher(word_k, i);
    }
}

/* Thread b: block b of the stream, four Gaussian entries — one 16-byte store where out is
 * 16-byte aligned and all four are in range. */
__global__ void __launch_bounds__(kThreads)
    gaussian_kernel(unsigned long long seed, unsigned long long sub, float *out, int64_t n,
                    int aligned) {
    const int64_t b = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (b * 4 >= n) return;
    curandStatePhilox4_32_10_t state;
    curand_init(seed, sub, (unsigned long long)b * 4, &state);
    const float4 z = curand_normal4(&state);
    if (aligned && b * 4 + 4 <= n) {
        reinterpret_cast<float4 *>(out)[b] = z;
        return;
    }
    const float values[4] = {z.x, z.y, z.z, z.w};
    for (int k = 0; k < 4 && b * 4 + k < n; ++k)
        out[b * 4 + k] = values[k];
}

} // namespace

extern "C" optk_status optk_cuda_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed,
                                            uint64_t step, uint64_t probe, float *out, int64_t n) {
    static const char op[] = "probe_fill";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const unsigned long long sub = optk_probe_subsequence(step, probe);
    const int64_t per_thread = kind == OPTK_PROBE_RADEMACHER ? 32 : 4;
    const int64_t threads = (n + per_thread - 1) / per_thread;
    const int64_t grid = (threads + kThreads - 1) / kThreads;
    if (grid > 0x7fffffffLL) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: n = %lld is too large for one grid",
                         op, (long long)n);
    }
    if (kind == OPTK_PROBE_RADEMACHER) {
        rademacher_kernel<<<(unsigned)grid, kThreads, 0, stream_of(ctx)>>>(seed, sub, out, n);
    } else {
        const int aligned = ((uintptr_t)out & 15u) == 0 ? 1 : 0;
        gaussian_kernel<<<(unsigned)grid, kThreads, 0, stream_of(ctx)>>>(seed, sub, out, n,
                                                                         aligned);
    }
    return check_launch(ctx, op);
}
