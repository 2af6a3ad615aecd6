/* random.c — argument checks for the counter-based random streams, then the backend. */
#include "internal.h"

optk_status optk_random_fill_u32(optk_context *ctx, uint64_t seed, uint64_t subsequence,
                                 uint64_t offset, uint32_t *out, int64_t n) {
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!out) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "random_fill_u32: out is NULL");
    if (n < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "random_fill_u32: n must be >= 1, got %lld", (long long)n);
    }
    if (((uintptr_t)out & 3u) != 0) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "random_fill_u32: out must be 4-byte aligned");
    }
    /* A subsequence holds 2^64 elements here; running past its end is refused rather than
     * carried into the next subsequence. */
    if (offset > UINT64_MAX - (uint64_t)(n - 1)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "random_fill_u32: offset + n runs past the end of the subsequence");
    }
    return ctx->ops->random_fill_u32(ctx, seed, subsequence, offset, out, n);
}
