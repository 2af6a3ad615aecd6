/* roofline_update.c — the CPU's in-place update bandwidth (see bench.h): three arrays
 * updated in place from a fourth, the traffic pattern of the optimizer steps (28 bytes per
 * element) with next to no arithmetic. */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

typedef struct update_args {
    float *a[3], *g;
    size_t n;
} update_args;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
__attribute__((noinline)) static void
update(float *restrict a, float *restrict b, float *restrict c, const float *restrict g, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        a[i] = a[i] * 0.5f + g[i];
        b[i] = b[i] * 0.5f + g[i];
        c[i] = c[i] * 0.5f + g[i];
    }
}

static optk_status run_update(optk_context *ctx, void *arg, int rep) {
    (void)ctx, (void)rep;
    update_args *u = arg;
    update(u->a[0], u->a[1], u->a[2], u->g, u->n);
    return OPTK_OK;
}

optk_status bench_update_roofline(optk_context *ctx, size_t bytes, int reps, bench_result *out) {
    if (optk_context_backend(ctx) != OPTK_BACKEND_CPU) return OPTK_ERR_UNSUPPORTED;
    update_args u = {.n = bytes / 4 / sizeof(float)};
    optk_status s = OPTK_OK;
    for (int k = 0; k < 3 && s == OPTK_OK; ++k) {
        s = optk_mem_alloc(ctx, u.n * sizeof(float), (void **)&u.a[k]);
        if (s == OPTK_OK) memset(u.a[k], 0, u.n * sizeof(float));
    }
    if (s == OPTK_OK) s = optk_mem_alloc(ctx, u.n * sizeof(float), (void **)&u.g);
    if (s == OPTK_OK) {
        for (size_t i = 0; i < u.n; ++i)
            u.g[i] = (float)(i & 1023) * 1e-3f;
    }
    memset(out, 0, sizeof *out);
    if (s == OPTK_OK) s = bench_time(ctx, run_update, &u, 2, reps, &out->median_s, &out->min_s);
    for (int k = 0; k < 3; ++k)
        optk_mem_free(ctx, u.a[k]);
    optk_mem_free(ctx, u.g);
    if (s != OPTK_OK) return s;
    out->op = "copy";
    out->variant = "inplace-update";
    out->backend = "cpu";
    out->device = optk_context_device_name(ctx);
    out->numel = (int64_t)u.n;
    out->tensors = 1;
    out->reps = reps;
    out->bytes = 28.0 * (double)u.n;
    out->gbps = out->bytes / out->median_s * 1e-9;
    return OPTK_OK;
}
