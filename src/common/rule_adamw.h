/* rule_adamw.h — the AdamW update of one element, shared by the CPU and CUDA backends.
 *
 * Semantics: PyTorch's torch.optim.AdamW for-loop path (ALGORITHMS.md, "Adam and AdamW"):
 *   g = maximize ? -g : g
 *   p = p * (1 - lr * wd)                    decoupled decay, before the moments
 *   m = b1 * m + (1 - b1) * g
 *   v = b2 * v + (1 - b2) * g * g
 *   vv = amsgrad ? (vmax = max(vmax, v)) : v  maximum of the uncorrected v
 *   p = p - (lr / bc1) * m / (sqrt(vv) / sqrt(bc2) + eps)
 * The per-step scalars are computed once per step in double and rounded to float
 * (optk_adamw_consts_make), so both backends see the same floats.
 */
#ifndef OPTK_COMMON_RULE_ADAMW_H
#define OPTK_COMMON_RULE_ADAMW_H

#include "defs.h"

/* Per-step scalars of one AdamW step. */
typedef struct optk_adamw_consts {
    float beta1, one_minus_beta1;
    float beta2, one_minus_beta2;
    float decay;     /* 1 - lr * weight_decay */
    float step_size; /* lr / (1 - beta1^t) */
    float bc2_sqrt;  /* sqrt(1 - beta2^t) */
    float eps;
    float grad_sign; /* -1 to maximize, else +1 (multiplying by +-1 is exact) */
    int amsgrad;
} optk_adamw_consts;

/* State layout: s[0] = m, s[1] = v, s[2] = vmax (amsgrad only). */
enum { OPTK_ADAMW_STATES = 2, OPTK_ADAMW_STATES_AMSGRAD = 3 };

OPTK_HD void optk_rule_adamw(const optk_adamw_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    float param = *p * k->decay;
    float m = fmaf(k->beta1, s[0], k->one_minus_beta1 * g);
    float v = fmaf(k->beta2, s[1], (k->one_minus_beta2 * g) * g);
    float vv = v;
    if (k->amsgrad) {
        vv = optk_max_nan(s[2], v);
        s[2] = vv;
    }
    float denom = sqrtf(vv) / k->bc2_sqrt + k->eps;
    *p = fmaf(-k->step_size, m / denom, param);
    s[0] = m;
    s[1] = v;
}

#endif /* OPTK_COMMON_RULE_ADAMW_H */
