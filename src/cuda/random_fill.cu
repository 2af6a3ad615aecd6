/* random_fill.cu — raw Philox4x32-10 words through cuRAND's device API.
 *
 * Thread b produces block b of the stream (elements 4b .. 4b+3) with
 * curand_init(seed, subsequence, 4b) and curand4, and writes the words that fall inside
 * [offset, offset + n). The CPU backend computes the same words with src/common/philox.h.
 */
#include "cuda_check.cuh"

#include <curand_kernel.h>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    random_fill_u32_kernel(uint64_t seed, uint64_t subsequence, uint64_t offset, uint32_t *out,
                           int64_t n, uint64_t first_block, uint64_t blocks) {
    const uint64_t i = (uint64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i >= blocks) return;
    const uint64_t block = first_block + i;
    curandStatePhilox4_32_10_t state;
    curand_init(seed, subsequence, block * 4, &state);
    const uint4 r = curand4(&state);
    const uint32_t words[4] = {r.x, r.y, r.z, r.w};
    for (int w = 0; w < 4; ++w) {
        const uint64_t element = block * 4 + (uint64_t)w;
        if (element >= offset && element - offset < (uint64_t)n) out[element - offset] = words[w];
    }
}

} // namespace

extern "C" optk_status optk_cuda_random_fill_u32(optk_context *ctx, uint64_t seed,
                                                 uint64_t subsequence, uint64_t offset,
                                                 uint32_t *out, int64_t n) {
    static const char op[] = "random_fill_u32";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const uint64_t first_block = offset / 4;
    const uint64_t last_block = (offset + (uint64_t)(n - 1)) / 4;
    /* Launch in slices so that the grid stays within its x-dimension limit. */
    const uint64_t max_blocks_per_launch = (uint64_t)kThreads * 0x7fffffffull;
    for (uint64_t b = first_block; b <= last_block; b += max_blocks_per_launch) {
        const uint64_t blocks =
            last_block - b + 1 < max_blocks_per_launch ? last_block - b + 1 : max_blocks_per_launch;
        const unsigned grid = blocks_for(blocks, kThreads);
        random_fill_u32_kernel<<<grid, kThreads, 0, stream_of(ctx)>>>(seed, subsequence, offset,
                                                                      out, n, b, blocks);
        if ((s = check_launch(ctx, op)) != OPTK_OK) return s;
        if (last_block - b < max_blocks_per_launch) break;
    }
    return OPTK_OK;
}
