/* validate_roofline.c — `optkern validate` for optk_exp_chain, the exp throughput op: 4099
 * values in [-100, 100] through 3 rounds of x <- exp(-|x|). CUDA: the CPU's bits (the shared
 * exp). Without a GPU: the CPU against the chain in double, within 4 ulp of float per round
 * (the shared exp is within 1 ulp, and |d exp(-|x|) / dx| <= 1 carries an input's error
 * through unamplified). */
#include "validate_op.h"

#include <math.h>
#include <stdlib.h>

enum { N = 4099, ROUNDS = 3 };

static void make_inputs(float *x, uint64_t seed) {
    uint64_t s = seed ^ 0xE4C4;
    for (int i = 0; i < N; ++i)
        x[i] = cli_uniform(&s, -100.0f, 100.0f);
}

static output run_chain(optk_context *ctx, uint64_t seed) {
    output o = {malloc(N * sizeof(float)), N};
    make_inputs(o.got, seed);
    float *x = NULL;
    optk_status s = optk_mem_alloc(ctx, N * sizeof(float), (void **)&x);
    if (s == OPTK_OK) s = optk_mem_upload(ctx, x, o.got, N * sizeof(float));
    if (s == OPTK_OK) s = optk_exp_chain(ctx, x, N, ROUNDS);
    if (s == OPTK_OK) s = optk_mem_download(ctx, o.got, x, N * sizeof(float));
    optk_mem_free(ctx, x);
    return s == OPTK_OK ? o : validate_failed(ctx, "exp_chain", o);
}

static reference ref_chain(optk_context *cpu, uint64_t seed) {
    (void)cpu;
    reference r = {malloc(N * sizeof(double)), malloc(N * sizeof(double)), N};
    float x[N];
    make_inputs(x, seed);
    for (int i = 0; i < N; ++i) {
        double v = x[i];
        for (int k = 0; k < ROUNDS; ++k)
            v = exp(-fabs(v));
        r.want[i] = v;
        r.tol[i] = 4.0 * ROUNDS * 0x1p-24 * v;
    }
    return r;
}

static const validate_op ops[] = {{"exp_chain", run_chain, ref_chain, 0.0, 0.0}};

int validate_roofline(optk_context *cpu, optk_context *cuda, uint64_t seed, const char *only,
                      int *ran) {
    return validate_run_ops(ops, sizeof ops / sizeof ops[0], cpu, cuda, seed, only, ran);
}
