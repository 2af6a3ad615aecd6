/* bench_es.c — EGGROLL: the population forward (low rank, full rank, and on CUDA the plain
 * unperturbed GEMM over the same rows through cuBLAS) and the gradient update.
 *
 * Reported in the flops field: the dense-equivalent 2 N batch m n of the forward (what the
 * perturbed products would cost if formed), so that the three forwards compare directly;
 * members per second follow from the time. The update counts 2 m n (N / 2) r for low rank.
 */
#include "bench.h"

#include <stdlib.h>
#include <string.h>

typedef struct es_args {
    optk_es_key key;
    optk_es_layer layer;
    int64_t members, batch;
    const float *X, *f;
    float *Y, *G;
    bool update;
} es_args;

static optk_status run_es(optk_context *ctx, void *arg, int rep) {
    (void)rep;
    const es_args *a = arg;
    if (a->update) {
        return optk_es_gradient(ctx, &a->key, &a->layer, a->members, a->f, 0.01, true, a->G, NULL);
    }
    return optk_es_forward(ctx, &a->key, &a->layer, a->members, a->batch, a->X, a->Y);
}

optk_status bench_es(optk_context *ctx, const char *variant, int64_t members, int64_t batch,
                     int64_t m, int64_t n, int rank, bool update, bool plain, int reps,
                     bench_result *out) {
    const size_t rows = (size_t)(members * batch);
    const size_t floats = (size_t)(m * n) * 2 + rows * (size_t)(n + m) + (size_t)members;
    float *mem = NULL;
    memset(out, 0, sizeof *out);
    optk_status s = optk_mem_alloc(ctx, floats * sizeof(float), (void **)&mem);
    if (s != OPTK_OK) return s;
    s = optk_mem_set(ctx, mem, 0, floats * sizeof(float));
    float *W = mem, *G = W + m * n, *X = G + m * n, *Y = X + rows * (size_t)n;
    float *f = Y + rows * (size_t)m;
    es_args a = {{7, 1, 0}, {m, n, rank, 0.01, W, NULL}, members, batch, X, f, Y, G, update};
    const int warmup = 1;
    if (s == OPTK_OK && !plain) {
        s = bench_time(ctx, run_es, &a, warmup, reps, &out->median_s, &out->min_s);
    }
    if (s == OPTK_OK && plain) { /* Y (rows x m) = X W^T: column-major Y^T = W^T X^T */
        const bench_sgemm_shape g = {true, (int)m, (int)rows, (int)n, W,
                                     X,    Y,      (int)n,    (int)n, (int)m};
        s = bench_time_sgemm(ctx, &g, warmup, reps, &out->median_s, &out->min_s);
    }
    optk_mem_free(ctx, mem);
    if (s != OPTK_OK) return s;
    bench_describe(out, ctx, update ? "es-update" : "es-forward", variant, m * n, (int)members,
                   reps);
    out->flops = update ? 2.0 * (double)(m * n) * (double)(members / 2) * (rank > 0 ? rank : 1)
                        : 2.0 * (double)rows * (double)m * (double)n;
    return OPTK_OK;
}
