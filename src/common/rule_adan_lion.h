/* rule_adan_lion.h — Adan (official sail-sg multi-tensor path; code betas) and Lion
 * (google/automl), one element.
 * Adan: if t == 1: prev = g;  dg = g - prev
 *   m = b1 m + (1 - b1) g;  d = b2 d + (1 - b2) dg;  n = b3 n + (1 - b3) (g + b2 dg)^2
 *   denom = sqrt(n) / sqrt(1 - b3^t) + eps
 *   u = (lr / bc1) m / denom + (lr b2 / (1 - b2^t)) d / denom
 *   no_prox ? p = p (1 - lr wd) - u : p = (p - u) / (1 + lr wd);  prev = g
 *   State: s[0] = m, s[1] = d, s[2] = n, s[3] = prev.
 * Lion: p = p (1 - lr wd);  c = b1 m + (1 - b1) g;  p = p - lr sign(c);  m = b2 m + (1 - b2) g
 *   State: s[0] = m.
 */
#ifndef OPTK_COMMON_RULE_ADAN_LION_H
#define OPTK_COMMON_RULE_ADAN_LION_H

#include "math.h"

typedef struct optk_adan_consts {
    float beta1, one_minus_beta1, beta2, one_minus_beta2, beta3, one_minus_beta3;
    float lr_m;     /* lr / (1 - b1^t) */
    float lr_d;     /* lr b2 / (1 - b2^t) */
    float bc3_sqrt; /* sqrt(1 - b3^t) */
    float eps;
    float decay;    /* no_prox: 1 - lr wd */
    float prox_div; /* prox: 1 + lr wd */
    float grad_sign;
    int first_step, no_prox;
} optk_adan_consts;

OPTK_HD void optk_rule_adan(const optk_adan_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    const float prev = k->first_step ? g : s[3];
    const float dg = g - prev;
    float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    float d = fmaf(k->beta2, s[1], k->one_minus_beta2 * dg);
    float u = fmaf(k->beta2, dg, g);
    float n = fmaf(k->beta3, s[2], (k->one_minus_beta3 * u) * u);
    float denom = sqrtf(n) / k->bc3_sqrt + k->eps;
    float update = fmaf(k->lr_m, m / denom, k->lr_d * (d / denom));
    *p = k->no_prox ? *p * k->decay - update : (*p - update) / k->prox_div;
    s[0] = m;
    s[1] = d;
    s[2] = n;
    s[3] = g;
}

typedef struct optk_lion_consts {
    float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, decay, grad_sign;
} optk_lion_consts;

OPTK_HD void optk_rule_lion(const optk_lion_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    float c = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    *p = fmaf(-k->lr, optk_sign(c), *p * k->decay);
    s[0] = fmaf(k->beta2, s[0], k->one_minus_beta2 * g);
}

#endif /* OPTK_COMMON_RULE_ADAN_LION_H */
