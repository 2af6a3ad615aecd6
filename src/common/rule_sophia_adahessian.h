/* rule_sophia_adahessian.h — the steps of the two second-order rules, one element. Their
 * curvature (h, D) is a read-only state here, written by the Hutchinson estimators.
 * Sophia (official SophiaG step; no bias correction):
 *   p = p (1 - lr wd);  m = b1 m + (1 - b1) g
 *   p = p - lr sign(m) min(|m| / (rho bs max(h, 0) + 1e-15), 1)
 *   State: s[0] = m (written), s[1] = h (read). The official code has rho bs h: the same
 *   for every h >= 0 (GNB's h always is); for h < 0 its ratio turns negative and unbounded.
 * AdaHessian (official):
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) D^2
 *   denom = (sqrt(v) / sqrt(bc2))^k + eps;  p = p - lr (m / bc1 / denom + wd p)
 *   State: s[0] = m, s[1] = v (written), s[2] = D (read).
 */
#ifndef OPTK_COMMON_RULE_SOPHIA_ADAHESSIAN_H
#define OPTK_COMMON_RULE_SOPHIA_ADAHESSIAN_H

#include "math.h"

typedef struct optk_sophia_consts {
    float lr, beta1, one_minus_beta1, decay, rho_bs, grad_sign;
} optk_sophia_consts;

OPTK_HD void optk_rule_sophia(const optk_sophia_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    float param = *p * k->decay;
    float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    /* A negative h (a Hutchinson estimate can be one) counts as 0, as the paper's
     * max(rho h, eps) has it: a full sign step, not a step against m of any size. */
    const float curvature = k->rho_bs * s[1];
    float ratio = optk_min1_nan(fabsf(m) / ((curvature < 0.0f ? 0.0f : curvature) + 1e-15f));
    *p = fmaf(-k->lr, optk_sign(m) * ratio, param);
    s[0] = m;
}

typedef struct optk_adahessian_consts {
    float lr, beta1, one_minus_beta1, beta2, one_minus_beta2;
    float bc1, bc2_sqrt, hessian_power, eps, weight_decay, grad_sign;
} optk_adahessian_consts;

/* One AdaHessian update; general_power is a constant at each call site: 0 for k = 1 (the
 * default: no exp/log evaluated), 1 for any k in (0, 1]. */
OPTK_HD void optk_adahessian_update(const optk_adahessian_consts *k, float *p, float g, float *s,
                                    int general_power) {
    g = g * k->grad_sign;
    const float d = s[2];
    float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    float v = fmaf(k->beta2, s[1], (k->one_minus_beta2 * d) * d);
    const float root = sqrtf(v) / k->bc2_sqrt;
    float denom = (general_power ? optk_powf_unit(root, k->hessian_power) : root) + k->eps;
    *p = fmaf(-k->lr, fmaf(k->weight_decay, *p, (m / k->bc1) / denom), *p);
    s[0] = m;
    s[1] = v;
}

OPTK_HD void optk_rule_adahessian(const optk_adahessian_consts *k, float *p, float g, float *s) {
    optk_adahessian_update(k, p, g, s, 0);
}

OPTK_HD void optk_rule_adahessian_pow(const optk_adahessian_consts *k, float *p, float g,
                                      float *s) {
    optk_adahessian_update(k, p, g, s, 1);
}

#endif /* OPTK_COMMON_RULE_SOPHIA_ADAHESSIAN_H */
