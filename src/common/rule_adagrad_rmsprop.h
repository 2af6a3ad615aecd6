/* rule_adagrad_rmsprop.h — Adagrad and RMSprop (PyTorch), one element.
 * Adagrad: g = maximize ? -g : g;  if wd != 0: g = g + wd * p
 *   sum = sum + g * g;  p = p - clr * g / (sqrt(sum) + eps),  clr = lr / (1 + (t - 1) lr_decay)
 *   State: s[0] = sum (starts at initial_accumulator_value).
 * RMSprop: g = maximize ? -g : g;  if wd != 0: g = g + wd * p
 *   sq = alpha * sq + (1 - alpha) * g * g
 *   centered: gavg = alpha * gavg + (1 - alpha) * g;  avg = sqrt(sq - gavg^2) + eps
 *   else:     avg = sqrt(sq) + eps
 *   momentum > 0: buf = momentum * buf + g / avg;  p = p - lr * buf
 *   else:         p = p - lr * g / avg
 *   State: s[0] = sq, then gavg (centered), then buf (momentum > 0).
 */
#ifndef OPTK_COMMON_RULE_ADAGRAD_RMSPROP_H
#define OPTK_COMMON_RULE_ADAGRAD_RMSPROP_H

#include "defs.h"

typedef struct optk_adagrad_consts {
    float clr, eps, weight_decay, grad_sign;
} optk_adagrad_consts;

OPTK_HD void optk_rule_adagrad(const optk_adagrad_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    g = k->weight_decay != 0.0f ? fmaf(k->weight_decay, *p, g) : g;
    float sum = fmaf(g, g, s[0]);
    s[0] = sum;
    *p = fmaf(-k->clr, g / (sqrtf(sum) + k->eps), *p);
}

typedef struct optk_rmsprop_consts {
    float lr, alpha, one_minus_alpha, eps, momentum, weight_decay, grad_sign;
    int centered, has_momentum;
} optk_rmsprop_consts;

OPTK_HD void optk_rule_rmsprop(const optk_rmsprop_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    g = k->weight_decay != 0.0f ? fmaf(k->weight_decay, *p, g) : g;
    const float sq = fmaf(k->alpha, s[0], (k->one_minus_alpha * g) * g);
    /* Centered: gavg in s[1] and the momentum buffer in s[2]; else the buffer in s[1]. */
    const float gavg = fmaf(k->alpha, s[1], k->one_minus_alpha * g);
    const float avg = (k->centered ? sqrtf(fmaf(-gavg, gavg, sq)) : sqrtf(sq)) + k->eps;
    const float buf = fmaf(k->momentum, k->centered ? s[2] : s[1], g / avg);
    s[0] = sq;
    s[2] = k->centered ? buf : s[2];
    s[1] = k->centered ? gavg : buf; /* dead slots where the layout has none */
    *p = fmaf(-k->lr, k->has_momentum ? buf : g / avg, *p);
}

#endif /* OPTK_COMMON_RULE_ADAGRAD_RMSPROP_H */
