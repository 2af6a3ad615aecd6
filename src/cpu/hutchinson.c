/* hutchinson.c — the CPU side of Hutchinson's estimator: a dense symmetric H z with double
 * accumulation, and the shared per-coordinate sums. */
#include "cpu_backend.h"
#include "parallel.h"
#include "../common/hutchinson.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

typedef struct hvp_job {
    const float *h, *z;
    float *hz;
    int64_t n;
} hvp_job;

/* Outputs [o0, o1) of H Z, output o = j n + r: row r of H against column j of Z, summed in
 * double in index order (each output whole on one thread: the thread count changes no bit). */
OPTK_CPU_HOT_LOOP static int hvp_slice(void *arg, int64_t o0, int64_t o1, int worker) {
    (void)worker;
    const hvp_job *job = arg;
    const int64_t n = job->n;
    for (int64_t o = o0; o < o1; ++o) {
        const float *restrict row = job->h + (o % n) * n, *restrict zj = job->z + (o / n) * n;
        double acc = 0.0;
        for (int64_t c = 0; c < n; ++c)
            acc += (double)row[c] * (double)zj[c];
        job->hz[o] = (float)acc;
    }
    return 0;
}

optk_status optk_cpu_dense_hvp(optk_context *ctx, const float *h, const float *z, float *hz,
                               int64_t n, int k) {
    (void)ctx;
    hvp_job job = {h, z, hz, n};
    const int64_t outputs = (int64_t)k * n;
    const int workers = (double)outputs * (double)n >= 1e7 ? optk_cpu_workers(outputs / 64) : 1;
    optk_cpu_parallel(outputs, workers, hvp_slice, &job);
    return OPTK_OK;
}

/* Coordinates per pass over the probes: the three sums of a block stay in cache while every
 * probe of the chunk is added, in probe order (the order CUDA adds them in too). */
enum { ACCUMULATE_BLOCK = 2048 };

OPTK_CPU_HOT_LOOP static void accumulate_block(const float *restrict z, const float *restrict hz,
                                               int64_t n, int k, int64_t len, double *restrict sum,
                                               double *restrict sum_sq, double *restrict zz) {
    for (int j = 0; j < k; ++j) {
        const float *zj = z + (int64_t)j * n, *hzj = hz + (int64_t)j * n;
        for (int64_t i = 0; i < len; ++i)
            optk_diag_accumulate(&sum[i], &sum_sq[i], &zz[i], zj[i], hzj[i]);
    }
}

optk_status optk_cpu_diag_accumulate(optk_context *ctx, const float *z, const float *hz, int64_t n,
                                     int k, double *acc) {
    (void)ctx;
    for (int64_t first = 0; first < n; first += ACCUMULATE_BLOCK) {
        const int64_t len = n - first < ACCUMULATE_BLOCK ? n - first : ACCUMULATE_BLOCK;
        accumulate_block(z + first, hz + first, n, k, len, acc + first, acc + n + first,
                         acc + 2 * n + first);
    }
    return OPTK_OK;
}

optk_status optk_cpu_diag_finish(optk_context *ctx, const double *acc, int64_t n, int k, bool bekas,
                                 float *diag, float *variance) {
    (void)ctx;
    for (int64_t i = 0; i < n; ++i)
        optk_diag_finish(acc, n, i, k, bekas, diag, variance);
    return OPTK_OK;
}
