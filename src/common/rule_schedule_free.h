/* rule_schedule_free.h — Schedule-Free AdamW and SGD (facebookresearch/schedule_free >= 1.3),
 * one element, and the train/eval parameter swap. The parameter buffer holds y in training.
 * The per-step scalars lr_t (warm-up), c = w / W and the y step come from the host.
 * AdamW: v = b2 v + (1 - b2) g^2;  u = g / (sqrt(v / bc2) + eps);  if wd: u = u + wd y
 * SGD:   u = g;  if wd: u = u + wd y
 * both:  y = y + c (z - y);  y = y + lr_t (b1 (1 - c) - 1) u;  z = z - lr_t u
 *   State AdamW: s[0] = z (starts as a copy of p), s[1] = v.  SGD: s[0] = z.
 * Swap:  p = p + w (z - p), w = 1 - 1/b1 (train -> eval: p becomes x),
 *        w = 1 - b1 (eval -> train: p becomes y).  Reads no gradient.
 */
#ifndef OPTK_COMMON_RULE_SCHEDULE_FREE_H
#define OPTK_COMMON_RULE_SCHEDULE_FREE_H

#include "defs.h"

typedef struct optk_schedule_free_consts {
    float lr;   /* lr_t, warm-up applied */
    float c;    /* w / W */
    float y_lr; /* lr_t (b1 (1 - c) - 1) */
    float beta2, one_minus_beta2, bc2, eps, weight_decay, grad_sign;
    int adaptive; /* AdamW (1) or SGD (0) */
} optk_schedule_free_consts;

OPTK_HD void optk_rule_schedule_free(const optk_schedule_free_consts *k, float *p, float g,
                                     float *s) {
    g = g * k->grad_sign;
    float y = *p, z = s[0];
    const float v = fmaf(k->beta2, s[1], (k->one_minus_beta2 * g) * g);
    s[1] = v; /* a dead slot for SGD */
    float u = k->adaptive ? g / (sqrtf(v / k->bc2) + k->eps) : g;
    u = k->weight_decay != 0.0f ? fmaf(k->weight_decay, y, u) : u;
    y = fmaf(k->c, z - y, y);
    y = fmaf(k->y_lr, u, y);
    s[0] = fmaf(-k->lr, u, z);
    *p = y;
}

typedef struct optk_lerp_consts {
    float weight;
} optk_lerp_consts;

/* p = p + w (s[0] - p): the Schedule-Free swap. g is not read; s keeps the shared rule
 * signature although this rule only reads it. */
// cppcheck-suppress constParameter
OPTK_HD void optk_rule_lerp_to_state(const optk_lerp_consts *k, float *p, float g, float *s) {
    (void)g;
    *p = fmaf(k->weight, s[0] - *p, *p);
}

typedef struct optk_fill_consts {
    float value;
} optk_fill_consts;

/* s[0] = p, for Schedule-Free's z (p as the machinery loads it: the master copy, or the
 * bf16/fp16 parameter widened). g is not read; p is stored back unchanged (the shared rule
 * signature keeps it writable). */
// cppcheck-suppress constParameter
OPTK_HD void optk_rule_copy_param_to_state(const optk_fill_consts *k, float *p, float g, float *s) {
    (void)k, (void)g;
    s[0] = *p;
}

/* s[0] = value, for state initialisation (Adagrad's initial accumulator). p, g untouched. */

OPTK_HD void optk_rule_fill_state(const optk_fill_consts *k, float *p, float g, float *s) {
    (void)p, (void)g;
    s[0] = k->value;
}

#endif /* OPTK_COMMON_RULE_SCHEDULE_FREE_H */
