/* hutchinson.c — Hutchinson's diagonal estimate: argument checks, then chunks of probes
 * (generated on the backend), H z from a dense matrix or the caller's callback, the shared
 * per-coordinate sums, and the estimate with its error bar written at the end. */
#include "internal.h"

#include <limits.h>

enum { DEFAULT_CHUNK_BYTES = 64 << 20 };

static optk_status check(optk_context *ctx, const char *op, const optk_hvp_source *hvp, int64_t n,
                         const optk_diag_options *o, const float *diag, const float *variance) {
    if (!hvp) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: hvp is NULL", op);
    if (!hvp->dense == !hvp->callback) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: give exactly one of hvp->dense and hvp->callback", op);
    }
    if (n < 1 || n > (hvp->dense ? (int64_t)INT_MAX : (INT64_MAX >> 8))) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: n must be in [1, %s], got %lld", op,
                         hvp->dense ? "2^31 - 1" : "2^55", (long long)n);
    }
    if (!o) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: options are NULL", op);
    if (o->kind != OPTK_PROBE_RADEMACHER && o->kind != OPTK_PROBE_GAUSSIAN) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown probe kind %d", op,
                         (int)o->kind);
    }
    if (o->probes < 1 || o->probes > OPTK_MAX_PROBES) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: probes must be in [1, 2^24], got %d",
                         op, o->probes);
    }
    if (variance && o->probes < 2) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: a variance needs at least 2 probes, got %d", op, o->probes);
    }
    if (o->chunk < 0 || o->chunk > o->probes) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: chunk must be in [0, %d], got %d", op,
                         o->probes, o->chunk);
    }
    if (o->step >= ((uint64_t)1 << 40)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: step must be < 2^40", op);
    }
    if (!diag) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: diag is NULL", op);
    if (((uintptr_t)diag | (uintptr_t)variance) & 3u) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: diag and variance must be 4-byte aligned", op);
    }
    const uintptr_t d = (uintptr_t)diag, v = (uintptr_t)variance, bytes = (uintptr_t)n * 4u;
    if (variance && d < v + bytes && v < d + bytes) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: diag and variance overlap", op);
    }
    return OPTK_OK;
}

optk_status optk_hessian_diag(optk_context *ctx, const optk_hvp_source *hvp, int64_t n,
                              const optk_diag_options *o, float *diag, float *variance) {
    static const char op[] = "hessian_diag";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check(ctx, op, hvp, n, o, diag, variance);
    if (s != OPTK_OK) return s;

    /* Probes per H z call: as asked, else all that fit DEFAULT_CHUNK_BYTES (Z and HZ). */
    int64_t chunk = o->chunk;
    if (chunk == 0) {
        chunk = DEFAULT_CHUNK_BYTES / (8 * n);
        chunk = chunk < 1 ? 1 : (chunk > o->probes ? o->probes : chunk);
    }
    /* Scratch: Z and HZ (n x chunk floats each), then the sums (3n doubles) where there is
     * more than one chunk (with one, the sums never leave the pass over Z and HZ). */
    const size_t zhz_bytes = (size_t)n * (size_t)chunk * 2 * sizeof(float);
    const size_t acc_bytes = chunk < o->probes ? (size_t)n * 3 * sizeof(double) : 0;
    void *scratch = NULL;
    s = ctx->ops->workspace(ctx, zhz_bytes + acc_bytes + sizeof(double), &scratch);
    if (s != OPTK_OK) return s;
    float *z = scratch, *hz = z + n * chunk;
    /* The sums start at the first 8-byte boundary after HZ. */
    double *acc = (double *)(((uintptr_t)scratch + zhz_bytes + 7u) & ~(uintptr_t)7u);
    optk_diag_pass pass = {
        .probes = o->probes, .bekas = o->bekas, .diag = diag, .variance = variance};

    for (int first = 0; first < o->probes && s == OPTK_OK; first += (int)chunk) {
        const int k = o->probes - first < chunk ? o->probes - first : (int)chunk;
        for (int j = 0; j < k && s == OPTK_OK; ++j) {
            s = ctx->ops->probe_fill(ctx, o->kind, o->seed, o->step, (uint64_t)(first + j),
                                     z + (int64_t)j * n, n);
        }
        if (s != OPTK_OK) break;
        if (hvp->dense) {
            s = ctx->ops->dense_hvp(ctx, hvp->dense, z, hz, n, k);
        } else {
            const int rc = hvp->callback(hvp->user, z, hz, n, k);
            if (rc != 0) {
                s = optk_fail(ctx, OPTK_ERR_CALLBACK,
                              "%s: the HVP callback returned %d for probes %d..%d", op, rc, first,
                              first + k - 1);
            }
        }
        pass.first = first == 0;
        pass.last = first + k == o->probes;
        if (s == OPTK_OK) s = ctx->ops->diag_accumulate(ctx, z, hz, n, k, acc, &pass);
    }
    return s;
}
