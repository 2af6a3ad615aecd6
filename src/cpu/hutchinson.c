/* hutchinson.c — the CPU side of Hutchinson's estimator: a dense symmetric H z with double
 * accumulation, and the shared per-coordinate sums. */
#include "cpu_backend.h"
#include "../common/hutchinson.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */

optk_status optk_cpu_dense_hvp(optk_context *ctx, const float *h, const float *z, float *hz,
                               int64_t n, int k) {
    (void)ctx;
    for (int j = 0; j < k; ++j) {
        const float *zj = z + (int64_t)j * n;
        for (int64_t r = 0; r < n; ++r) {
            const float *row = h + r * n;
            double acc = 0.0;
            for (int64_t c = 0; c < n; ++c)
                acc += (double)row[c] * (double)zj[c];
            hz[(int64_t)j * n + r] = (float)acc;
        }
    }
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
