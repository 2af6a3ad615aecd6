/* hutchinson.c — the CPU side of Hutchinson's estimator: a dense symmetric H z with double
 * accumulation, and the shared per-coordinate sums. */
#include "cpu_backend.h"
#include "../common/hutchinson.h"

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

optk_status optk_cpu_diag_accumulate(optk_context *ctx, const float *z, const float *hz, int64_t n,
                                     int k, double *acc) {
    (void)ctx;
    for (int j = 0; j < k; ++j) {
        for (int64_t i = 0; i < n; ++i) {
            optk_diag_accumulate(acc, n, i, z[(int64_t)j * n + i], hz[(int64_t)j * n + i]);
        }
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
