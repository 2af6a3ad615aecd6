/* rules.h — the registry of element rules: one line per rule drives the CPU loops, the CUDA
 * kernels and the backends' dispatch, so that adding a rule is adding a line here, its
 * function in a rule_*.h, and its scalars in the dispatch layer.
 *
 * X(NAME, name, consts type, element function, reads the gradient, state layouts)
 * A state layout (S, W) means: S state buffers per tensor, the first W written back, the
 * rest read only (Sophia's h, AdaHessian's D, the Schedule-Free swap's z, a probe z).
 */
#ifndef OPTK_COMMON_RULES_H
#define OPTK_COMMON_RULES_H

#include "rule_adabelief_diffgrad.h"
#include "rule_adagrad_rmsprop.h"
#include "rule_adam.h"
#include "rule_adan_lion.h"
#include "rule_curvature.h"
#include "rule_schedule_free.h"
#include "rule_sgd.h"
#include "rule_sophia_adahessian.h"

/* One bit per (S, W) layout, S and W in 0..4. */
#define OPTK_LAYOUT(S, W) (1ull << ((S)*8 + (W)))

#define OPTK_ELEMENT_RULES(X)                                                                      \
    X(SGD, sgd, optk_sgd_consts, optk_rule_sgd, 1, OPTK_LAYOUT(0, 0) | OPTK_LAYOUT(1, 1))          \
    X(SIGNUM, signum, optk_signum_consts, optk_rule_signum, 1,                                     \
      OPTK_LAYOUT(0, 0) | OPTK_LAYOUT(1, 1))                                                       \
    X(ADAGRAD, adagrad, optk_adagrad_consts, optk_rule_adagrad, 1, OPTK_LAYOUT(1, 1))              \
    X(RMSPROP, rmsprop, optk_rmsprop_consts, optk_rule_rmsprop, 1,                                 \
      OPTK_LAYOUT(1, 1) | OPTK_LAYOUT(2, 2) | OPTK_LAYOUT(3, 3))                                   \
    X(ADAM, adam, optk_adam_consts, optk_rule_adam, 1, OPTK_LAYOUT(2, 2) | OPTK_LAYOUT(3, 3))      \
    X(ADABELIEF, adabelief, optk_adabelief_consts, optk_rule_adabelief, 1, OPTK_LAYOUT(2, 2))      \
    X(DIFFGRAD, diffgrad, optk_diffgrad_consts, optk_rule_diffgrad, 1, OPTK_LAYOUT(3, 3))          \
    X(ADAN, adan, optk_adan_consts, optk_rule_adan, 1, OPTK_LAYOUT(4, 4))                          \
    X(LION, lion, optk_lion_consts, optk_rule_lion, 1, OPTK_LAYOUT(1, 1))                          \
    X(SOPHIA, sophia, optk_sophia_consts, optk_rule_sophia, 1, OPTK_LAYOUT(2, 1))                  \
    X(ADAHESSIAN, adahessian, optk_adahessian_consts, optk_rule_adahessian, 1, OPTK_LAYOUT(3, 2))  \
    X(ADAHESSIAN_POW, adahessian_pow, optk_adahessian_consts, optk_rule_adahessian_pow, 1,         \
      OPTK_LAYOUT(3, 2))                                                                           \
    X(SCHEDULE_FREE, schedule_free, optk_schedule_free_consts, optk_rule_schedule_free, 1,         \
      OPTK_LAYOUT(1, 1) | OPTK_LAYOUT(2, 2))                                                       \
    X(LERP_TO_STATE, lerp_to_state, optk_lerp_consts, optk_rule_lerp_to_state, 0,                  \
      OPTK_LAYOUT(1, 0))                                                                           \
    X(FILL_STATE, fill_state, optk_fill_consts, optk_rule_fill_state, 0, OPTK_LAYOUT(1, 1))        \
    X(COPY_PARAM_TO_STATE, copy_param_to_state, optk_fill_consts, optk_rule_copy_param_to_state,   \
      0, OPTK_LAYOUT(1, 1))                                                                        \
    X(EMA_PRODUCT, ema_product, optk_curvature_consts, optk_rule_ema_product, 1,                   \
      OPTK_LAYOUT(1, 0))                                                                           \
    X(EMA_SQUARE, ema_square, optk_curvature_consts, optk_rule_ema_square, 1, OPTK_LAYOUT(0, 0))   \
    X(EMA, ema, optk_curvature_consts, optk_rule_ema, 1, OPTK_LAYOUT(0, 0))                        \
    X(ABS_PRODUCT, abs_product, optk_curvature_consts, optk_rule_abs_product, 1,                   \
      OPTK_LAYOUT(1, 0))                                                                           \
    X(ABS, abs, optk_curvature_consts, optk_rule_abs, 1, OPTK_LAYOUT(0, 0))

typedef enum optk_element_rule {
#define OPTK_X(NAME, name, T, fn, reads_grad, layouts) OPTK_ELEMENT_##NAME,
    OPTK_ELEMENT_RULES(OPTK_X)
#undef OPTK_X
        OPTK_ELEMENT_RULE_COUNT
} optk_element_rule;

typedef union optk_element_consts {
#define OPTK_X(NAME, name, T, fn, reads_grad, layouts) T name;
    OPTK_ELEMENT_RULES(OPTK_X)
#undef OPTK_X
} optk_element_consts;

#endif /* OPTK_COMMON_RULES_H */
