/* rule_sgd.h — SGD with momentum, dampening and Nesterov (PyTorch's for-loop path), and
 * signSGD/Signum, one element.
 * SGD:
 *   g = maximize ? -g : g;  if wd != 0: g = g + wd * p
 *   if momentum != 0: buf = (t == 1) ? g : momentum * buf + (1 - dampening) * g
 *                     g = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g                                          State: s[0] = buf (momentum only)
 * Signum: m = b * m + (1 - b) * g (b = 0: m = g, no state); p = p * (1 - lr * wd);
 *   p = p - lr * sign(m), sign(0) = 0                       State: s[0] = m (b > 0 only)
 */
#ifndef OPTK_COMMON_RULE_SGD_H
#define OPTK_COMMON_RULE_SGD_H

#include "math.h"

typedef struct optk_sgd_consts {
    float lr, momentum, one_minus_dampening, weight_decay, grad_sign;
    int has_momentum, first_step, nesterov;
} optk_sgd_consts;

OPTK_HD void optk_rule_sgd(const optk_sgd_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    g = k->weight_decay != 0.0f ? fmaf(k->weight_decay, *p, g) : g;
    const float buf = k->first_step ? g : fmaf(k->momentum, s[0], k->one_minus_dampening * g);
    s[0] = buf; /* a dead slot without momentum */
    const float direction = k->nesterov ? fmaf(k->momentum, buf, g) : buf;
    *p = fmaf(-k->lr, k->has_momentum ? direction : g, *p);
}

typedef struct optk_signum_consts {
    float lr, beta, one_minus_beta, decay, grad_sign;
    int has_momentum;
} optk_signum_consts;

OPTK_HD void optk_rule_signum(const optk_signum_consts *k, float *p, float g, float *s) {
    g = g * k->grad_sign;
    const float m = k->has_momentum ? fmaf(k->beta, s[0], k->one_minus_beta * g) : g;
    s[0] = m; /* a dead slot without momentum */
    *p = fmaf(-k->lr, optk_sign(m), *p * k->decay);
}

#endif /* OPTK_COMMON_RULE_SGD_H */
