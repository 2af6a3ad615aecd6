/* hutchinson.h — the per-coordinate arithmetic of Hutchinson's diagonal estimate, shared by
 * both backends: double sums in probe order, so only H z itself can differ between them. */
#ifndef OPTK_COMMON_HUTCHINSON_H
#define OPTK_COMMON_HUTCHINSON_H

#include "defs.h"

/* Where one chunk of probes sits in the estimate. The first chunk starts the sums from zero
 * (nothing is read from, or cleared in, the sum arrays); the last one turns the sums into the
 * estimate straight away instead of storing them. With one chunk — the usual case — the sums
 * never leave registers or cache: the pass reads Z and HZ and writes the estimate only. */
typedef struct optk_diag_pass {
    bool first, last;
    int probes; /* all of them, for the estimate (last chunk) */
    bool bekas;
    float *diag, *variance; /* written by the last chunk; variance may be NULL */
} optk_diag_pass;

/* One probe's contribution to a coordinate's three sums: p = z (Hz), its square, and z^2. */
OPTK_HD void optk_diag_accumulate(double *sum, double *sum_sq, double *zz, float z, float hz) {
    const double p = (double)z * (double)hz;
    *sum += p;
    *sum_sq += p * p;
    *zz += (double)z * (double)z;
}

/* The estimate and the sample variance of the k single-probe estimates. */
OPTK_HD void optk_diag_estimate(double sum, double sum_sq, double zz, int k, bool bekas,
                                float *diag, float *variance) {
    const double mean = sum / (double)k;
    *diag = (float)(bekas ? sum / zz : mean);
    if (variance) {
        const double v = k > 1 ? (sum_sq - (double)k * mean * mean) / (double)(k - 1) : 0.0;
        /* Rounding can make an exact 0 negative; a NaN (a non-finite H z) stays NaN. */
        *variance = (float)(v < 0.0 ? 0.0 : v);
    }
}

#endif /* OPTK_COMMON_HUTCHINSON_H */
