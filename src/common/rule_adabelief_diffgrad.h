/* rule_adabelief_diffgrad.h — AdaBelief (official adabelief_pytorch 0.2) and diffGrad
 * (official v2), one element.
 * AdaBelief: weight_decouple ? p = p * decay : g = g + wd * p
 *   m = b1 m + (1 - b1) g;  s = b2 s + (1 - b2) (g - m)^2;  s = s + eps  (into the state)
 *   (the mode is chosen per step on the host)
 *   mode UNRECTIFIED: p = p - (lr / bc1) m / (sqrt(s) / sqrt(bc2) + eps)
 *   mode RECTIFIED (rho_t >= 5): p = p - lr r m / (sqrt(s) + eps)   (r includes 1 / bc1)
 *   mode SGD (rho_t < 5, degenerated_to_sgd): p = p - (lr / bc1) m;  mode NONE: p unchanged
 *   State: s[0] = m, s[1] = s.
 * diffGrad: if wd != 0: g = g + wd p;  m, v as Adam;  xi = 1 / (1 + exp(-|prev - g|));
 *   prev = g;  p = p - (lr sqrt(bc2) / bc1) (m xi) / (sqrt(v) + eps)
 *   State: s[0] = m, s[1] = v, s[2] = prev (starts at 0).
 */
#ifndef OPTK_COMMON_RULE_ADABELIEF_DIFFGRAD_H
#define OPTK_COMMON_RULE_ADABELIEF_DIFFGRAD_H

#include "math.h"

typedef struct optk_adabelief_consts {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
    float decay;     /* decoupled: 1 - lr wd (fixed_decay: 1 - wd); else 1 */
    float l2;        /* coupled: wd; else 0 */
    float step_size; /* lr / bc1 (UNRECTIFIED, SGD) or lr r (RECTIFIED) */
    float root_div;  /* sqrt(bc2) (UNRECTIFIED) or 1 (RECTIFIED): dividing by 1 is exact */
    float grad_sign;
    int sgd_step; /* mode SGD: the step is m itself */
    int skip;     /* mode NONE: p keeps its decayed value */
} optk_adabelief_consts;

OPTK_HD void optk_rule_adabelief(const optk_adabelief_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    g = k->l2 != 0.0f ? fmaf(k->l2, *p, g) : g;
    const float param = *p * k->decay;
    const float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    const float residual = g - m;
    const float var = fmaf(k->beta2, s[1], (k->one_minus_beta2 * residual) * residual) + k->eps;
    s[0] = m;
    s[1] = var;
    /* Single-level selects on uniform flags: the loops stay vectorisable. */
    const float direction = k->sgd_step ? m : m / (sqrtf(var) / k->root_div + k->eps);
    const float stepped = fmaf(-k->step_size, direction, param);
    *p = k->skip ? param : stepped;
}

typedef struct optk_diffgrad_consts {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, l2;
    float step_size; /* lr sqrt(bc2) / bc1 */
    float grad_sign;
} optk_diffgrad_consts;

OPTK_HD void optk_rule_diffgrad(const optk_diffgrad_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    g = k->l2 != 0.0f ? fmaf(k->l2, *p, g) : g;
    float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    float v = fmaf(k->beta2, s[1], (k->one_minus_beta2 * g) * g);
    float xi = 1.0f / (1.0f + optk_expf(-fabsf(s[2] - g)));
    s[0] = m;
    s[1] = v;
    s[2] = g;
    *p = fmaf(-k->step_size, (m * xi) / (sqrtf(v) + k->eps), *p);
}

#endif /* OPTK_COMMON_RULE_ADABELIEF_DIFFGRAD_H */
