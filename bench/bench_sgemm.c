/* bench_sgemm.c — a cuBLAS SGEMM timed alone on the context's stream: the baseline the
 * benchmarks hold an op against when the op contains that product (Hutchinson's dense
 * estimator, EGGROLL's unperturbed forward). */
#include "bench.h"

#ifdef OPTK_BENCH_HAVE_CUDA
#include <cublas_v2.h>

typedef struct sgemm_args {
    cublasHandle_t handle;
    bench_sgemm_shape shape;
} sgemm_args;

static optk_status run_sgemm(optk_context *ctx, void *arg, int rep) {
    (void)ctx, (void)rep;
    const sgemm_args *a = arg;
    const bench_sgemm_shape *g = &a->shape;
    const float one = 1.0f, zero = 0.0f;
    return cublasSgemm(a->handle, g->transa ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, g->m, g->n,
                       g->k, &one, g->A, g->lda, g->B, g->ldb, &zero, g->C,
                       g->ldc) == CUBLAS_STATUS_SUCCESS
               ? OPTK_OK
               : OPTK_ERR_DEVICE;
}

optk_status bench_time_sgemm(optk_context *ctx, const bench_sgemm_shape *shape, int warmup,
                             int reps, double *median_s, double *min_s) {
    sgemm_args a = {NULL, *shape};
    if (cublasCreate(&a.handle) != CUBLAS_STATUS_SUCCESS) return OPTK_ERR_DEVICE;
    optk_status s = cublasSetStream(a.handle, optk_context_stream(ctx)) == CUBLAS_STATUS_SUCCESS
                        ? OPTK_OK
                        : OPTK_ERR_DEVICE;
    if (s == OPTK_OK) s = bench_time(ctx, run_sgemm, &a, warmup, reps, median_s, min_s);
    cublasDestroy(a.handle);
    return s;
}
#else
optk_status bench_time_sgemm(optk_context *ctx, const bench_sgemm_shape *shape, int warmup,
                             int reps, double *median_s, double *min_s) {
    (void)ctx, (void)shape, (void)warmup, (void)reps, (void)median_s, (void)min_s;
    return OPTK_ERR_UNSUPPORTED;
}
#endif
