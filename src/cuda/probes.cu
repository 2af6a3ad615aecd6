/* probes.cu — Hutchinson probes through cuRAND's device API: thread b draws Philox block b
 * of the probe's stream (curand_init(seed, subsequence, 4b)), as curand4 bits for
 * Rademacher entries (32 per word) or as curand_normal4 for Gaussian ones. */
#include "cuda_check.cuh"
#include "../common/probes.h"

#include <curand_kernel.h>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

/* Thread w: word w of the stream, 32 Rademacher entries. */
__global__ void __launch_bounds__(kThreads)
    rademacher_kernel(unsigned long long seed, unsigned long long sub, float *out, int64_t n) {
    const int64_t w = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (w * 32 >= n) return;
    curandStatePhilox4_32_10_t state;
    curand_init(seed, sub, (unsigned long long)w, &state);
    const uint32_t word = curand(&state);
    const int64_t end = (w + 1) * 32 < n ? (w + 1) * 32 : n;
    for (int64_t i = w * 32; i < end; ++i)
        out[i] = optk_rademacher(word, i);
}

/* Thread b: block b of the stream, four Gaussian entries. */
__global__ void __launch_bounds__(kThreads)
    gaussian_kernel(unsigned long long seed, unsigned long long sub, float *out, int64_t n) {
    const int64_t b = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (b * 4 >= n) return;
    curandStatePhilox4_32_10_t state;
    curand_init(seed, sub, (unsigned long long)b * 4, &state);
    const float4 z = curand_normal4(&state);
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
        gaussian_kernel<<<(unsigned)grid, kThreads, 0, stream_of(ctx)>>>(seed, sub, out, n);
    }
    return check_launch(ctx, op);
}
