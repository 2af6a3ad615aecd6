/* step_consts.h — each rule's per-step float scalars, derived in double from the double
 * hyperparameters as the official Python code does, then rounded once to float.
 *
 * One function for both places a step's scalars are made: the host, for a step called with
 * host values, and the device, for a graph-capturable step whose step counter and learning
 * rate live in device memory (capture.h). It uses only correctly rounded double operations
 * (+, -, *, /, sqrt) and powers by repeated squaring, never pow(): glibc's and CUDA's pow
 * may differ in the last bit of a double, and then, rarely, in a float scalar — which would
 * break the CPU == CUDA contract for captured steps.
 */
#ifndef OPTK_COMMON_STEP_CONSTS_H
#define OPTK_COMMON_STEP_CONSTS_H

#include "rules.h"

#include "optkern/optim.h"

/* Schedule-Free's scalars carried from step to step (lr_max starts at -1, as upstream). */
typedef struct optk_schedule_free_state {
    double lr_max;
    double weight_sum;
} optk_schedule_free_state;

/* x^n for an integer n >= 0, by repeated squaring: the same roundings everywhere. */
OPTK_HD double optk_pow_int(double x, int64_t n) {
    double result = 1.0, square = x;
    while (n > 0) {
        if (n & 1) result = result * square;
        n >>= 1;
        if (n > 0) square = square * square;
    }
    return result;
}

/* Whether y is an integer the repeated squaring takes (0 <= y <= 2^31). */
OPTK_HD int optk_is_small_natural(double y) {
    return y >= 0.0 && y <= 2147483648.0 && y == (double)(int64_t)y;
}

/* x^y: repeated squaring for the integer exponents of every default; pow() otherwise (only
 * Schedule-Free's r and weight_lr_power can be non-integers; a captured step refuses them). */
OPTK_HD double optk_pow_real(double x, double y) {
    return optk_is_small_natural(y) ? optk_pow_int(x, (int64_t)y) : pow(x, y);
}

/* Rounds to float and clears *ok if the result is not finite. */
OPTK_HD float optk_consts_float(double x, int *ok) {
    const float f = (float)x;
    if (!(f - f == 0.0f)) *ok = 0;
    return f;
}

/* The element rule a step of these options runs. */
OPTK_HD optk_element_rule optk_element_rule_of(const optk_optim_options *o) {
    switch (o->rule) {
    case OPTK_RULE_SGD:
        return OPTK_ELEMENT_SGD;
    case OPTK_RULE_SIGNUM:
        return OPTK_ELEMENT_SIGNUM;
    case OPTK_RULE_ADAGRAD:
        return OPTK_ELEMENT_ADAGRAD;
    case OPTK_RULE_RMSPROP:
        return OPTK_ELEMENT_RMSPROP;
    case OPTK_RULE_ADAM:
    case OPTK_RULE_ADAMW:
        return OPTK_ELEMENT_ADAM;
    case OPTK_RULE_ADABELIEF:
        return OPTK_ELEMENT_ADABELIEF;
    case OPTK_RULE_DIFFGRAD:
        return OPTK_ELEMENT_DIFFGRAD;
    case OPTK_RULE_ADAN:
        return OPTK_ELEMENT_ADAN;
    case OPTK_RULE_LION:
        return OPTK_ELEMENT_LION;
    case OPTK_RULE_SOPHIA:
        return OPTK_ELEMENT_SOPHIA;
    case OPTK_RULE_ADAHESSIAN:
        /* k = 1 has its own entry so that the default pays for no exp/log. */
        return o->hessian_power == 1.0 ? OPTK_ELEMENT_ADAHESSIAN : OPTK_ELEMENT_ADAHESSIAN_POW;
    case OPTK_RULE_SCHEDULE_FREE_ADAMW:
    case OPTK_RULE_SCHEDULE_FREE_SGD:
        return OPTK_ELEMENT_SCHEDULE_FREE;
    default:
        return OPTK_ELEMENT_RULE_COUNT;
    }
}

OPTK_HD void optk_adabelief_consts_for(const optk_optim_options *o, int64_t t,
                                       optk_adabelief_consts *k, int *ok) {
    const double beta1_t = optk_pow_int(o->beta1, t), beta2_t = optk_pow_int(o->beta2, t);
    const double bc1 = 1.0 - beta1_t, bc2 = 1.0 - beta2_t;
    k->beta1 = optk_consts_float(o->beta1, ok);
    k->one_minus_beta1 = optk_consts_float(1.0 - o->beta1, ok);
    k->beta2 = optk_consts_float(o->beta2, ok);
    k->one_minus_beta2 = optk_consts_float(1.0 - o->beta2, ok);
    k->eps = optk_consts_float(o->eps, ok);
    k->decay = 1.0f;
    k->l2 = 0.0f;
    if (o->weight_decouple) {
        k->decay = optk_consts_float(
            o->fixed_decay ? 1.0 - o->weight_decay : 1.0 - o->lr * o->weight_decay, ok);
    } else {
        k->l2 = optk_consts_float(o->weight_decay, ok);
    }
    k->root_div = optk_consts_float(sqrt(bc2), ok);
    k->sgd_step = 0;
    k->skip = 0;
    k->step_size = optk_consts_float(o->lr / bc1, ok);
    if (!o->rectify) return;
    const double rho_inf = 2.0 / (1.0 - o->beta2) - 1.0;
    const double rho_t = rho_inf - 2.0 * (double)t * beta2_t / (1.0 - beta2_t);
    if (rho_t >= 5.0) {
        const double r = sqrt(bc2 * (rho_t - 4.0) / (rho_inf - 4.0) * (rho_t - 2.0) / rho_t *
                              rho_inf / (rho_inf - 2.0)) /
                         bc1;
        k->root_div = 1.0f;
        k->step_size = optk_consts_float(o->lr * r, ok);
    } else if (o->degenerated_to_sgd) {
        k->sgd_step = 1;
    } else {
        k->skip = 1;
    }
}

/* Schedule-Free: the step's scalars from the carried ones (sf), and those after it (next). */
OPTK_HD void optk_schedule_free_consts_for(const optk_optim_options *o, int64_t step,
                                           const optk_schedule_free_state *sf,
                                           optk_schedule_free_state *next,
                                           optk_schedule_free_consts *k, int *ok) {
    const int adaptive = o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW;
    const double beta1 = adaptive ? o->beta1 : o->momentum;
    const int64_t kk = step - 1;
    const double sched = (o->warmup_steps > 0 && kk < o->warmup_steps)
                             ? (double)(kk + 1) / (double)o->warmup_steps
                             : 1.0;
    const double lr = o->lr * sched;
    next->lr_max = fmax(lr, sf->lr_max);
    const double weight =
        optk_pow_real((double)(kk + 1), o->r) * optk_pow_real(next->lr_max, o->weight_lr_power);
    next->weight_sum = sf->weight_sum + weight;
    const double c = next->weight_sum > 0.0 ? weight / next->weight_sum : 0.0;
    k->lr = optk_consts_float(lr, ok);
    k->c = optk_consts_float(c, ok);
    k->y_lr = optk_consts_float(lr * (beta1 * (1.0 - c) - 1.0), ok);
    k->beta2 = optk_consts_float(o->beta2, ok);
    k->one_minus_beta2 = optk_consts_float(1.0 - o->beta2, ok);
    k->bc2 = optk_consts_float(1.0 - optk_pow_int(o->beta2, kk + 1), ok);
    k->eps = optk_consts_float(o->eps, ok);
    k->weight_decay = optk_consts_float(o->weight_decay, ok);
    k->adaptive = adaptive;
}

OPTK_HD void optk_adahessian_consts_for(const optk_optim_options *o, double bc1, double bc2,
                                        optk_adahessian_consts *k, int *ok) {
    k->lr = optk_consts_float(o->lr, ok);
    k->beta1 = optk_consts_float(o->beta1, ok);
    k->one_minus_beta1 = optk_consts_float(1.0 - o->beta1, ok);
    k->beta2 = optk_consts_float(o->beta2, ok);
    k->one_minus_beta2 = optk_consts_float(1.0 - o->beta2, ok);
    k->bc1 = optk_consts_float(bc1, ok);
    k->bc2_sqrt = optk_consts_float(sqrt(bc2), ok);
    k->hessian_power = optk_consts_float(o->hessian_power, ok);
    k->eps = optk_consts_float(o->eps, ok);
    k->weight_decay = optk_consts_float(o->weight_decay, ok);
}

/* The scalars of step `step` (t, from 1) of options o into k, the union member of
 * optk_element_rule_of(o). Schedule-Free reads sf and writes next (other rules copy sf to
 * next). Returns 0 if a scalar is not finite in float (nothing else is wrong then). */
OPTK_HD int optk_step_consts(const optk_optim_options *o, int64_t step,
                             const optk_schedule_free_state *sf, optk_schedule_free_state *next,
                             optk_element_consts *k) {
    const double t = (double)step;
    const double bc1 = 1.0 - optk_pow_int(o->beta1, step);
    const double bc2 = 1.0 - optk_pow_int(o->beta2, step);
    const float sign = o->maximize ? -1.0f : 1.0f;
    int ok = 1;
    *next = *sf;
    switch (o->rule) {
    case OPTK_RULE_SGD:
        k->sgd.lr = optk_consts_float(o->lr, &ok);
        k->sgd.momentum = optk_consts_float(o->momentum, &ok);
        k->sgd.one_minus_dampening = optk_consts_float(1.0 - o->dampening, &ok);
        k->sgd.weight_decay = optk_consts_float(o->weight_decay, &ok);
        k->sgd.grad_sign = sign;
        k->sgd.has_momentum = o->momentum != 0.0;
        k->sgd.first_step = step == 1;
        k->sgd.nesterov = o->nesterov;
        break;
    case OPTK_RULE_SIGNUM:
        k->signum.lr = optk_consts_float(o->lr, &ok);
        k->signum.beta = optk_consts_float(o->momentum, &ok);
        k->signum.one_minus_beta = optk_consts_float(1.0 - o->momentum, &ok);
        k->signum.decay = optk_consts_float(1.0 - o->lr * o->weight_decay, &ok);
        k->signum.grad_sign = sign;
        k->signum.has_momentum = o->momentum != 0.0;
        break;
    case OPTK_RULE_ADAGRAD:
        k->adagrad.clr = optk_consts_float(o->lr / (1.0 + (t - 1.0) * o->lr_decay), &ok);
        k->adagrad.eps = optk_consts_float(o->eps, &ok);
        k->adagrad.weight_decay = optk_consts_float(o->weight_decay, &ok);
        k->adagrad.grad_sign = sign;
        break;
    case OPTK_RULE_RMSPROP:
        k->rmsprop.lr = optk_consts_float(o->lr, &ok);
        k->rmsprop.alpha = optk_consts_float(o->alpha, &ok);
        k->rmsprop.one_minus_alpha = optk_consts_float(1.0 - o->alpha, &ok);
        k->rmsprop.eps = optk_consts_float(o->eps, &ok);
        k->rmsprop.momentum = optk_consts_float(o->momentum, &ok);
        k->rmsprop.weight_decay = optk_consts_float(o->weight_decay, &ok);
        k->rmsprop.grad_sign = sign;
        k->rmsprop.centered = o->centered;
        k->rmsprop.has_momentum = o->momentum > 0.0;
        break;
    case OPTK_RULE_ADAM:
    case OPTK_RULE_ADAMW: {
        const int decoupled = o->rule == OPTK_RULE_ADAMW;
        k->adam.beta1 = optk_consts_float(o->beta1, &ok);
        k->adam.one_minus_beta1 = optk_consts_float(1.0 - o->beta1, &ok);
        k->adam.beta2 = optk_consts_float(o->beta2, &ok);
        k->adam.one_minus_beta2 = optk_consts_float(1.0 - o->beta2, &ok);
        k->adam.l2 = decoupled ? 0.0f : optk_consts_float(o->weight_decay, &ok);
        k->adam.decay = decoupled ? optk_consts_float(1.0 - o->lr * o->weight_decay, &ok) : 1.0f;
        k->adam.step_size = optk_consts_float(o->lr / bc1, &ok);
        k->adam.bc2_sqrt = optk_consts_float(sqrt(bc2), &ok);
        k->adam.eps = optk_consts_float(o->eps, &ok);
        k->adam.grad_sign = sign;
        k->adam.amsgrad = o->amsgrad;
        break;
    }
    case OPTK_RULE_ADABELIEF:
        optk_adabelief_consts_for(o, step, &k->adabelief, &ok);
        k->adabelief.grad_sign = sign;
        break;
    case OPTK_RULE_DIFFGRAD:
        k->diffgrad.beta1 = optk_consts_float(o->beta1, &ok);
        k->diffgrad.one_minus_beta1 = optk_consts_float(1.0 - o->beta1, &ok);
        k->diffgrad.beta2 = optk_consts_float(o->beta2, &ok);
        k->diffgrad.one_minus_beta2 = optk_consts_float(1.0 - o->beta2, &ok);
        k->diffgrad.eps = optk_consts_float(o->eps, &ok);
        k->diffgrad.l2 = optk_consts_float(o->weight_decay, &ok);
        k->diffgrad.step_size = optk_consts_float(o->lr * sqrt(bc2) / bc1, &ok);
        k->diffgrad.grad_sign = sign;
        break;
    case OPTK_RULE_ADAN:
        k->adan.beta1 = optk_consts_float(o->beta1, &ok);
        k->adan.one_minus_beta1 = optk_consts_float(1.0 - o->beta1, &ok);
        k->adan.beta2 = optk_consts_float(o->beta2, &ok);
        k->adan.one_minus_beta2 = optk_consts_float(1.0 - o->beta2, &ok);
        k->adan.beta3 = optk_consts_float(o->beta3, &ok);
        k->adan.one_minus_beta3 = optk_consts_float(1.0 - o->beta3, &ok);
        k->adan.lr_m = optk_consts_float(o->lr / bc1, &ok);
        k->adan.lr_d = optk_consts_float(o->lr * o->beta2 / bc2, &ok);
        k->adan.bc3_sqrt = optk_consts_float(sqrt(1.0 - optk_pow_int(o->beta3, step)), &ok);
        k->adan.eps = optk_consts_float(o->eps, &ok);
        k->adan.decay = optk_consts_float(1.0 - o->lr * o->weight_decay, &ok);
        k->adan.prox_div = optk_consts_float(1.0 + o->lr * o->weight_decay, &ok);
        k->adan.grad_sign = sign;
        k->adan.first_step = step == 1;
        k->adan.no_prox = o->no_prox;
        break;
    case OPTK_RULE_LION:
        k->lion.lr = optk_consts_float(o->lr, &ok);
        k->lion.beta1 = optk_consts_float(o->beta1, &ok);
        k->lion.one_minus_beta1 = optk_consts_float(1.0 - o->beta1, &ok);
        k->lion.beta2 = optk_consts_float(o->beta2, &ok);
        k->lion.one_minus_beta2 = optk_consts_float(1.0 - o->beta2, &ok);
        k->lion.decay = optk_consts_float(1.0 - o->lr * o->weight_decay, &ok);
        k->lion.grad_sign = sign;
        break;
    case OPTK_RULE_SOPHIA:
        k->sophia.lr = optk_consts_float(o->lr, &ok);
        k->sophia.beta1 = optk_consts_float(o->beta1, &ok);
        k->sophia.one_minus_beta1 = optk_consts_float(1.0 - o->beta1, &ok);
        k->sophia.decay = optk_consts_float(1.0 - o->lr * o->weight_decay, &ok);
        k->sophia.rho_bs = optk_consts_float(o->rho * o->batch_tokens, &ok);
        k->sophia.grad_sign = sign;
        break;
    case OPTK_RULE_ADAHESSIAN:
        if (o->hessian_power == 1.0) {
            optk_adahessian_consts_for(o, bc1, bc2, &k->adahessian, &ok);
            k->adahessian.grad_sign = sign;
        } else {
            optk_adahessian_consts_for(o, bc1, bc2, &k->adahessian_pow, &ok);
            k->adahessian_pow.grad_sign = sign;
        }
        break;
    case OPTK_RULE_SCHEDULE_FREE_ADAMW:
    case OPTK_RULE_SCHEDULE_FREE_SGD:
        optk_schedule_free_consts_for(o, step, sf, next, &k->schedule_free, &ok);
        k->schedule_free.grad_sign = sign;
        break;
    default:
        ok = 0;
        break;
    }
    return ok;
}

#endif /* OPTK_COMMON_STEP_CONSTS_H */
