/* hutchinson.h — the per-coordinate arithmetic of Hutchinson's diagonal estimate, shared by
 * both backends: double sums in probe order, so only H z itself can differ between them. */
#ifndef OPTK_COMMON_HUTCHINSON_H
#define OPTK_COMMON_HUTCHINSON_H

#include "defs.h"

/* One probe's contribution to a coordinate's three sums: p = z (Hz), its square, and z^2.
 * The sums are separate arrays (acc, acc + n, acc + 2n) so that a CPU loop vectorises. */
OPTK_HD void optk_diag_accumulate(double *sum, double *sum_sq, double *zz, float z, float hz) {
    const double p = (double)z * (double)hz;
    *sum += p;
    *sum_sq += p * p;
    *zz += (double)z * (double)z;
}

/* The estimate and the sample variance of the k single-probe estimates. */
OPTK_HD void optk_diag_finish(const double *acc, int64_t n, int64_t i, int k, int bekas,
                              float *diag, float *variance) {
    const double sum = acc[i], sum_sq = acc[n + i], zz = acc[2 * n + i];
    const double mean = sum / (double)k;
    diag[i] = (float)(bekas ? sum / zz : mean);
    if (variance) {
        const double v = k > 1 ? (sum_sq - (double)k * mean * mean) / (double)(k - 1) : 0.0;
        variance[i] = (float)(v > 0.0 ? v : 0.0); /* rounding can make an exact 0 negative */
    }
}

#endif /* OPTK_COMMON_HUTCHINSON_H */
