/* random_fill.c — raw Philox4x32-10 words on the CPU, through the shared generator. */
#include "cpu_backend.h"
#include "../common/philox.h"

optk_status optk_cpu_random_fill_u32(optk_context *ctx, uint64_t seed, uint64_t subsequence,
                                     uint64_t offset, uint32_t *out, int64_t n) {
    (void)ctx;
    int64_t i = 0;
    /* Whole blocks of four words once aligned to a block boundary: one Philox call each. */
    while (i < n && ((offset + (uint64_t)i) & 3u) != 0) {
        out[i] = optk_philox_u32(seed, subsequence, offset + (uint64_t)i);
        ++i;
    }
    for (; i + 4 <= n; i += 4) {
        optk_philox_block(seed, subsequence, (offset + (uint64_t)i) >> 2, &out[i]);
    }
    for (; i < n; ++i)
        out[i] = optk_philox_u32(seed, subsequence, offset + (uint64_t)i);
    return OPTK_OK;
}
