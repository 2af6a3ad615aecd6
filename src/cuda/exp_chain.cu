/* exp_chain.cu — the exp throughput op on CUDA: each thread carries four elements' chains in
 * registers across the rounds (four independent chains hide the exp's latency), with the
 * shared exp of src/common/math.h, so the CPU's bits. */
#include "cuda_check.cuh"

#include "../common/math.h"

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;
constexpr int kChains = 4;                     /* elements per thread */
constexpr int64_t kGroup = kThreads * kChains; /* elements per block and pass */
constexpr unsigned kMostBlocks = 65535u * 16u; /* then the blocks stride over the rest */

__global__ void __launch_bounds__(kThreads) exp_chain_kernel(float *x, int64_t n, int rounds) {
    for (int64_t base = (int64_t)blockIdx.x * kGroup; base < n;
         base += (int64_t)gridDim.x * kGroup) {
        float v[kChains];
#pragma unroll
        for (int c = 0; c < kChains; ++c) {
            const int64_t e = base + c * kThreads + threadIdx.x;
            v[c] = e < n ? x[e] : 0.0f;
        }
        for (int r = 0; r < rounds; ++r) {
#pragma unroll
            for (int c = 0; c < kChains; ++c)
                v[c] = optk_expf(-fabsf(v[c]));
        }
#pragma unroll
        for (int c = 0; c < kChains; ++c) {
            const int64_t e = base + c * kThreads + threadIdx.x;
            if (e < n) x[e] = v[c];
        }
    }
}

} // namespace

extern "C" optk_status optk_cuda_exp_chain(optk_context *ctx, float *x, int64_t n, int rounds) {
    static const char op[] = "exp_chain";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t groups = (n + kGroup - 1) / kGroup;
    const unsigned blocks = groups < (int64_t)kMostBlocks ? (unsigned)groups : kMostBlocks;
    exp_chain_kernel<<<blocks, kThreads, 0, stream_of(ctx)>>>(x, n, rounds);
    return check_launch(ctx, op);
}
