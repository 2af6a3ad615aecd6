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
    if (k->weight_decay != 0.0f) g = fmaf(k->weight_decay, *p, g);
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
    if (k->weight_decay != 0.0f) g = fmaf(k->weight_decay, *p, g);
    float sq = fmaf(k->alpha, s[0], (k->one_minus_alpha * g) * g);
    s[0] = sq;
    float avg;
    if (k->centered) {
        float gavg = fmaf(k->alpha, s[1], k->one_minus_alpha * g);
        s[1] = gavg;
        avg = sqrtf(fmaf(-gavg, gavg, sq)) + k->eps;
    } else {
        avg = sqrtf(sq) + k->eps;
    }
    if (k->has_momentum) {
        const int b = k->centered ? 2 : 1;
        float buf = fmaf(k->momentum, s[b], g / avg);
        s[b] = buf;
        *p = fmaf(-k->lr, buf, *p);
    } else {
        *p = fmaf(-k->lr, g / avg, *p);
    }
}

#endif /* OPTK_COMMON_RULE_ADAGRAD_RMSPROP_H */
