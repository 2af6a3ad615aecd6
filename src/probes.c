/* probes.c — argument checks for the Hutchinson probes, then the backend. */
#include "internal.h"

optk_status optk_probe_fill(optk_context *ctx, optk_probe_kind kind, uint64_t seed, uint64_t step,
                            uint64_t probe, float *out, int64_t n) {
    static const char op[] = "probe_fill";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (kind != OPTK_PROBE_RADEMACHER && kind != OPTK_PROBE_GAUSSIAN) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown probe kind %d", op,
                         (int)kind);
    }
    if (!out) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    if (((uintptr_t)out & 3u) != 0) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: out is not 4-byte aligned", op);
    }
    if (n < 1 || n > (INT64_MAX >> 4)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: n must be in [1, 2^59), got %lld", op,
                         (long long)n);
    }
    if (probe >= (uint64_t)OPTK_MAX_PROBES) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: probe must be < 2^24, got %llu", op,
                         (unsigned long long)probe);
    }
    if (step >= ((uint64_t)1 << 40)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: step must be < 2^40, got %llu", op,
                         (unsigned long long)step);
    }
    return ctx->ops->probe_fill(ctx, kind, seed, step, probe, out, n);
}
