/* optim_consts.c — each rule's per-step scalars: derived once per step in double, from the
 * double hyperparameters, as the official Python code does, then rounded once to float.
 * Both backends receive the same floats, which is half of why their bits agree. */
#include "optim_check.h"

#include <math.h>

/* Rounds to float and notes whether the result is finite. */
static float to_float(double x, bool *finite) {
    float f = (float)x;
    if (!isfinite(f)) *finite = false;
    return f;
}

static void prepare_adabelief(const optk_optim_options *o, double t, optk_adabelief_consts *k,
                              bool *ok) {
    const double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    k->beta1 = to_float(o->beta1, ok);
    k->one_minus_beta1 = to_float(1.0 - o->beta1, ok);
    k->beta2 = to_float(o->beta2, ok);
    k->one_minus_beta2 = to_float(1.0 - o->beta2, ok);
    k->eps = to_float(o->eps, ok);
    k->decay = 1.0f;
    k->l2 = 0.0f;
    if (o->weight_decouple) {
        k->decay =
            to_float(o->fixed_decay ? 1.0 - o->weight_decay : 1.0 - o->lr * o->weight_decay, ok);
    } else {
        k->l2 = to_float(o->weight_decay, ok);
    }
    k->root_div = to_float(sqrt(bc2), ok);
    k->sgd_step = 0;
    k->skip = 0;
    k->step_size = to_float(o->lr / bc1, ok);
    if (!o->rectify) return;
    const double rho_inf = 2.0 / (1.0 - o->beta2) - 1.0;
    const double beta2_t = pow(o->beta2, t);
    const double rho_t = rho_inf - 2.0 * t * beta2_t / (1.0 - beta2_t);
    if (rho_t >= 5.0) {
        const double r = sqrt(bc2 * (rho_t - 4.0) / (rho_inf - 4.0) * (rho_t - 2.0) / rho_t *
                              rho_inf / (rho_inf - 2.0)) /
                         bc1;
        k->root_div = 1.0f;
        k->step_size = to_float(o->lr * r, ok);
    } else if (o->degenerated_to_sgd) {
        k->sgd_step = 1;
    } else {
        k->skip = 1;
    }
}

static void prepare_schedule_free(const optk_optim_options *o, int64_t step,
                                  const optk_schedule_free_state *sf,
                                  optk_schedule_free_state *next, optk_schedule_free_consts *k,
                                  bool *ok) {
    const bool adaptive = o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW;
    const double beta1 = adaptive ? o->beta1 : o->momentum;
    const double kk = (double)(step - 1);
    const double sched = (o->warmup_steps > 0 && kk < (double)o->warmup_steps)
                             ? (kk + 1.0) / (double)o->warmup_steps
                             : 1.0;
    const double lr = o->lr * sched;
    next->lr_max = fmax(lr, sf->lr_max);
    const double weight = pow(kk + 1.0, o->r) * pow(next->lr_max, o->weight_lr_power);
    next->weight_sum = sf->weight_sum + weight;
    const double c = next->weight_sum > 0.0 ? weight / next->weight_sum : 0.0;
    k->lr = to_float(lr, ok);
    k->c = to_float(c, ok);
    k->y_lr = to_float(lr * (beta1 * (1.0 - c) - 1.0), ok);
    k->beta2 = to_float(o->beta2, ok);
    k->one_minus_beta2 = to_float(1.0 - o->beta2, ok);
    k->bc2 = to_float(1.0 - pow(o->beta2, kk + 1.0), ok);
    k->eps = to_float(o->eps, ok);
    k->weight_decay = to_float(o->weight_decay, ok);
    k->adaptive = adaptive;
}

optk_status optk_optim_prepare(optk_context *ctx, const char *op, const optk_optim_options *o,
                               int64_t step, const optk_schedule_free_state *sf,
                               optk_schedule_free_state *sf_next, optk_element_launch *launch) {
    const double t = (double)step;
    const double bc1 = 1.0 - pow(o->beta1, t), bc2 = 1.0 - pow(o->beta2, t);
    const float sign = o->maximize ? -1.0f : 1.0f;
    bool ok = true;
    optk_element_consts *k = &launch->k; /* launch->rule is set below */
    launch->nstate = optk_optim_state_count(o);
    launch->nwritten = optk_optim_written_state_count(o);
    if (sf_next) *sf_next = *sf;

    switch (o->rule) {
    case OPTK_RULE_SGD:
        launch->rule = OPTK_ELEMENT_SGD;
        k->sgd = (optk_sgd_consts){
            .lr = to_float(o->lr, &ok),
            .momentum = to_float(o->momentum, &ok),
            .one_minus_dampening = to_float(1.0 - o->dampening, &ok),
            .weight_decay = to_float(o->weight_decay, &ok),
            .grad_sign = sign,
            .has_momentum = o->momentum != 0.0,
            .first_step = step == 1,
            .nesterov = o->nesterov,
        };
        break;
    case OPTK_RULE_SIGNUM:
        launch->rule = OPTK_ELEMENT_SIGNUM;
        k->signum = (optk_signum_consts){
            .lr = to_float(o->lr, &ok),
            .beta = to_float(o->momentum, &ok),
            .one_minus_beta = to_float(1.0 - o->momentum, &ok),
            .decay = to_float(1.0 - o->lr * o->weight_decay, &ok),
            .grad_sign = sign,
            .has_momentum = o->momentum != 0.0,
        };
        break;
    case OPTK_RULE_ADAGRAD:
        launch->rule = OPTK_ELEMENT_ADAGRAD;
        k->adagrad = (optk_adagrad_consts){
            .clr = to_float(o->lr / (1.0 + (t - 1.0) * o->lr_decay), &ok),
            .eps = to_float(o->eps, &ok),
            .weight_decay = to_float(o->weight_decay, &ok),
            .grad_sign = sign,
        };
        break;
    case OPTK_RULE_RMSPROP:
        launch->rule = OPTK_ELEMENT_RMSPROP;
        k->rmsprop = (optk_rmsprop_consts){
            .lr = to_float(o->lr, &ok),
            .alpha = to_float(o->alpha, &ok),
            .one_minus_alpha = to_float(1.0 - o->alpha, &ok),
            .eps = to_float(o->eps, &ok),
            .momentum = to_float(o->momentum, &ok),
            .weight_decay = to_float(o->weight_decay, &ok),
            .grad_sign = sign,
            .centered = o->centered,
            .has_momentum = o->momentum > 0.0,
        };
        break;
    case OPTK_RULE_ADAM:
    case OPTK_RULE_ADAMW: {
        const bool decoupled = o->rule == OPTK_RULE_ADAMW;
        launch->rule = OPTK_ELEMENT_ADAM;
        k->adam = (optk_adam_consts){
            .beta1 = to_float(o->beta1, &ok),
            .one_minus_beta1 = to_float(1.0 - o->beta1, &ok),
            .beta2 = to_float(o->beta2, &ok),
            .one_minus_beta2 = to_float(1.0 - o->beta2, &ok),
            .l2 = decoupled ? 0.0f : to_float(o->weight_decay, &ok),
            .decay = decoupled ? to_float(1.0 - o->lr * o->weight_decay, &ok) : 1.0f,
            .step_size = to_float(o->lr / bc1, &ok),
            .bc2_sqrt = to_float(sqrt(bc2), &ok),
            .eps = to_float(o->eps, &ok),
            .grad_sign = sign,
            .amsgrad = o->amsgrad,
        };
        break;
    }
    case OPTK_RULE_ADABELIEF:
        launch->rule = OPTK_ELEMENT_ADABELIEF;
        prepare_adabelief(o, t, &k->adabelief, &ok);
        k->adabelief.grad_sign = sign;
        break;
    case OPTK_RULE_DIFFGRAD:
        launch->rule = OPTK_ELEMENT_DIFFGRAD;
        k->diffgrad = (optk_diffgrad_consts){
            .beta1 = to_float(o->beta1, &ok),
            .one_minus_beta1 = to_float(1.0 - o->beta1, &ok),
            .beta2 = to_float(o->beta2, &ok),
            .one_minus_beta2 = to_float(1.0 - o->beta2, &ok),
            .eps = to_float(o->eps, &ok),
            .l2 = to_float(o->weight_decay, &ok),
            .step_size = to_float(o->lr * sqrt(bc2) / bc1, &ok),
            .grad_sign = sign,
        };
        break;
    case OPTK_RULE_ADAN:
        launch->rule = OPTK_ELEMENT_ADAN;
        k->adan = (optk_adan_consts){
            .beta1 = to_float(o->beta1, &ok),
            .one_minus_beta1 = to_float(1.0 - o->beta1, &ok),
            .beta2 = to_float(o->beta2, &ok),
            .one_minus_beta2 = to_float(1.0 - o->beta2, &ok),
            .beta3 = to_float(o->beta3, &ok),
            .one_minus_beta3 = to_float(1.0 - o->beta3, &ok),
            .lr_m = to_float(o->lr / bc1, &ok),
            .lr_d = to_float(o->lr * o->beta2 / bc2, &ok),
            .bc3_sqrt = to_float(sqrt(1.0 - pow(o->beta3, t)), &ok),
            .eps = to_float(o->eps, &ok),
            .decay = to_float(1.0 - o->lr * o->weight_decay, &ok),
            .prox_div = to_float(1.0 + o->lr * o->weight_decay, &ok),
            .grad_sign = sign,
            .first_step = step == 1,
            .no_prox = o->no_prox,
        };
        break;
    case OPTK_RULE_LION:
        launch->rule = OPTK_ELEMENT_LION;
        k->lion = (optk_lion_consts){
            .lr = to_float(o->lr, &ok),
            .beta1 = to_float(o->beta1, &ok),
            .one_minus_beta1 = to_float(1.0 - o->beta1, &ok),
            .beta2 = to_float(o->beta2, &ok),
            .one_minus_beta2 = to_float(1.0 - o->beta2, &ok),
            .decay = to_float(1.0 - o->lr * o->weight_decay, &ok),
            .grad_sign = sign,
        };
        break;
    case OPTK_RULE_SOPHIA:
        launch->rule = OPTK_ELEMENT_SOPHIA;
        k->sophia = (optk_sophia_consts){
            .lr = to_float(o->lr, &ok),
            .beta1 = to_float(o->beta1, &ok),
            .one_minus_beta1 = to_float(1.0 - o->beta1, &ok),
            .decay = to_float(1.0 - o->lr * o->weight_decay, &ok),
            .rho_bs = to_float(o->rho * o->batch_tokens, &ok),
            .grad_sign = sign,
        };
        break;
    case OPTK_RULE_ADAHESSIAN:
        /* k = 1 has its own entry so that the default pays for no exp/log. */
        launch->rule =
            o->hessian_power == 1.0 ? OPTK_ELEMENT_ADAHESSIAN : OPTK_ELEMENT_ADAHESSIAN_POW;
        const optk_adahessian_consts ah = {
            .lr = to_float(o->lr, &ok),
            .beta1 = to_float(o->beta1, &ok),
            .one_minus_beta1 = to_float(1.0 - o->beta1, &ok),
            .beta2 = to_float(o->beta2, &ok),
            .one_minus_beta2 = to_float(1.0 - o->beta2, &ok),
            .bc1 = to_float(bc1, &ok),
            .bc2_sqrt = to_float(sqrt(bc2), &ok),
            .hessian_power = to_float(o->hessian_power, &ok),
            .eps = to_float(o->eps, &ok),
            .weight_decay = to_float(o->weight_decay, &ok),
            .grad_sign = sign,
        };
        if (launch->rule == OPTK_ELEMENT_ADAHESSIAN)
            k->adahessian = ah;
        else
            k->adahessian_pow = ah;
        break;
    case OPTK_RULE_SCHEDULE_FREE_ADAMW:
    case OPTK_RULE_SCHEDULE_FREE_SGD:
        launch->rule = OPTK_ELEMENT_SCHEDULE_FREE;
        prepare_schedule_free(o, step, sf, sf_next, &k->schedule_free, &ok);
        k->schedule_free.grad_sign = sign;
        break;
    case OPTK_RULE_COUNT:
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown rule", op);
    }
    if (!ok) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: a per-step scalar of %s overflows float at step %lld (lr %g)", op,
                         optk_rule_name(o->rule), (long long)step, o->lr);
    }
    return OPTK_OK;
}
