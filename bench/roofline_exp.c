/* roofline_exp.c — the backend's exp throughput (see bench.h): optk_exp_chain, the library's
 * own exp chained on every element, so the exps the Sinkhorn solvers evaluate are measured
 * against the same function at its fastest. */
#include "bench.h"

#include <string.h>

typedef struct chain_args {
    float *x;
    int64_t n;
    int rounds;
} chain_args;

static optk_status run_chain(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const chain_args *a = arg;
    return optk_exp_chain(ctx, a->x, a->n, a->rounds);
}

optk_status bench_exp_roofline(optk_context *ctx, int64_t n, int rounds, int reps,
                               bench_result *out) {
    chain_args a = {NULL, n, rounds};
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, (size_t)n * sizeof(float), (void **)&a.x);
    /* 0x3c3c3c3c is 0.0115: the chains start inside (0, 1], where they stay. */
    if (s == OPTK_OK) s = optk_mem_set(ctx, a.x, 0x3c, (size_t)n * sizeof(float));
    if (s == OPTK_OK) s = bench_time(ctx, run_chain, &a, 2, reps, &out->median_s, &out->min_s);
    optk_mem_free(ctx, a.x);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, "exp", "chain", n, 1, reps);
    out->exps = (double)n * rounds;
    out->flops = out->exps;
    out->exp_roofline = out->exps / out->median_s;
    return OPTK_OK;
}
