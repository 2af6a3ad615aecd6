/* roofline.c — argument checks for the roofline ops (optkern/roofline.h), then the backend. */
#include "internal.h"

optk_status optk_exp_chain(optk_context *ctx, float *x, int64_t n, int rounds) {
    static const char op[] = "exp_chain";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!x) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: x is NULL", op);
    if (n < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: n must be >= 1, got %lld", op,
                         (long long)n);
    }
    if (rounds < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: rounds must be >= 1, got %d", op,
                         rounds);
    }
    if (((uintptr_t)x & 3u) != 0) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: x must be 4-byte aligned", op);
    }
    return ctx->ops->exp_chain(ctx, x, n, rounds);
}
