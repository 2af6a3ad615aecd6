/* rule_curvature.h — the curvature estimates the second-order rules read, one element:
 * Sophia's h and AdaHessian's D, written from a probe z and its H z (or a gradient).
 * In the machinery's terms p is the curvature buffer, g the H z (or ĝ) input, s[0] the probe.
 *   Sophia-H:    h = b2 h + (1 - b2) (z Hz)       s[0] = z
 *   Sophia GNB:  h = b2 h + (1 - b2) (ĝ ĝ)        g = ĝ, the sampled-label gradient
 *   estimate:    h = b2 h + (1 - b2) e            g = e, a z Hz already formed (k probes)
 *   AdaHessian:  D = |z Hz|  (or |e|)             block averaging: optk_abs_block_mean
 * AdaHessian's RMS EMA (v = b2 v + (1 - b2) D^2) is part of its step, not of this update.
 */
#ifndef OPTK_COMMON_RULE_CURVATURE_H
#define OPTK_COMMON_RULE_CURVATURE_H

#include "defs.h"

typedef struct optk_curvature_consts {
    float beta2, one_minus_beta2;
} optk_curvature_consts;

/* s is written by other rules: every rule shares one signature. */
// cppcheck-suppress constParameter
OPTK_HD void optk_rule_ema_product(const optk_curvature_consts *k, float *p, float g, float *s) {
    *p = fmaf(k->beta2, *p, k->one_minus_beta2 * (s[0] * g));
}

OPTK_HD void optk_rule_ema_square(const optk_curvature_consts *k, float *p, float g, float *s) {
    (void)s;
    *p = fmaf(k->beta2, *p, k->one_minus_beta2 * (g * g));
}

OPTK_HD void optk_rule_ema(const optk_curvature_consts *k, float *p, float g, float *s) {
    (void)s;
    *p = fmaf(k->beta2, *p, k->one_minus_beta2 * g);
}

// cppcheck-suppress constParameter
OPTK_HD void optk_rule_abs_product(const optk_curvature_consts *k, float *p, float g, float *s) {
    (void)k;
    *p = fabsf(s[0] * g);
}

OPTK_HD void optk_rule_abs(const optk_curvature_consts *k, float *p, float g, float *s) {
    (void)k;
    (void)s;
    *p = fabsf(g);
}

/* AdaHessian's averaging of block b (elements b*block .. b*block + block - 1): the mean of
 * |z Hz| (|hz| when z is NULL), summed in double in element order, written to every element
 * of the block — the spatial mean of a 4-D convolution weight when block = kh * kw. */
OPTK_HD void optk_abs_block_mean(const float *z, const float *hz, float *out, int64_t b,
                                 int64_t block) {
    const int64_t first = b * block;
    double sum = 0.0;
    for (int64_t i = first; i < first + block; ++i)
        sum += (double)fabsf(z ? z[i] * hz[i] : hz[i]);
    const float mean = (float)(sum / (double)block);
    for (int64_t i = first; i < first + block; ++i)
        out[i] = mean;
}

#endif /* OPTK_COMMON_RULE_CURVATURE_H */
