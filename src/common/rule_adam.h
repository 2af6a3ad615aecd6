/* rule_adam.h — Adam and AdamW (PyTorch's for-loop path), one element.
 *   g = maximize ? -g : g
 *   Adam : g = g + wd * p                    coupled L2 (l2 = wd, decay = 1)
 *   AdamW: p = p * (1 - lr * wd)             decoupled, before the moments (l2 = 0)
 *   m = b1 * m + (1 - b1) * g
 *   v = b2 * v + (1 - b2) * g * g
 *   vv = amsgrad ? (vmax = max(vmax, v)) : v  maximum of the uncorrected v
 *   p = p - (lr / bc1) * m / (sqrt(vv) / sqrt(bc2) + eps)
 * State: s[0] = m, s[1] = v, s[2] = vmax (amsgrad only).
 */
#ifndef OPTK_COMMON_RULE_ADAM_H
#define OPTK_COMMON_RULE_ADAM_H

#include "defs.h"

typedef struct optk_adam_consts {
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float l2;        /* Adam's coupled weight decay; 0 for AdamW */
    float decay;     /* AdamW's 1 - lr * weight_decay; 1 for Adam */
    float step_size; /* lr / (1 - beta1^t) */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float grad_sign; /* -1 to maximize, else +1 (multiplying by +-1 is exact) */
    int amsgrad;
} optk_adam_consts;

OPTK_HD void optk_rule_adam(const optk_adam_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    g = k->l2 != 0.0f ? fmaf(k->l2, *p, g) : g;
    float param = *p * k->decay;
    float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    float v = fmaf(k->beta2, s[1], (k->one_minus_beta2 * g) * g);
    float vv = k->amsgrad ? optk_max_nan(s[2], v) : v;
    s[2] = vv; /* a dead slot without amsgrad */
    float denom = sqrtf(vv) / k->bc2_sqrt + k->eps;
    *p = fmaf(-k->step_size, m / denom, param);
    s[0] = m;
    s[1] = v;
}

#endif /* OPTK_COMMON_RULE_ADAM_H */
