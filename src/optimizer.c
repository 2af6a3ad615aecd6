/* optimizer.c — the stateful optimizer object: options, step counter, Schedule-Free scalars
 * and mode; argument checks, then one element-rule launch per step. */
#include "optim_check.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

struct optk_optimizer {
    optk_context *ctx;
    optk_optim_options opt;
    int64_t steps;
    optk_schedule_free_state schedule_free;
    bool eval_mode;
};

static bool is_schedule_free(const optk_optim_options *o) {
    return o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW || o->rule == OPTK_RULE_SCHEDULE_FREE_SGD;
}

optk_status optk_optimizer_create(optk_context *ctx, const optk_optim_options *opt,
                                  optk_optimizer **out) {
    static const char op[] = "optimizer_create";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!out) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: out is NULL", op);
    *out = NULL;
    optk_status s = optk_optim_check_options(ctx, op, opt);
    if (s != OPTK_OK) return s;
    optk_optimizer *o = calloc(1, sizeof *o);
    if (!o) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    o->ctx = ctx;
    o->opt = *opt;
    o->schedule_free.lr_max = -1.0;
    *out = o;
    return OPTK_OK;
}

void optk_optimizer_free(optk_optimizer *optimizer) {
    free(optimizer);
}

const optk_optim_options *optk_optimizer_options(const optk_optimizer *optimizer) {
    return optimizer ? &optimizer->opt : NULL;
}

int64_t optk_optimizer_step_count(const optk_optimizer *optimizer) {
    return optimizer ? optimizer->steps : -1;
}

optk_status optk_optimizer_set_lr(optk_optimizer *optimizer, double lr) {
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s =
        optk_check_hparam(optimizer->ctx, "optimizer_set_lr", "lr", lr, 0.0, HUGE_VAL, false);
    if (s == OPTK_OK) optimizer->opt.lr = lr;
    return s;
}

optk_status optk_optimizer_init_state(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                      int count) {
    static const char op[] = "optimizer_init_state";
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    const optk_optim_options *o = &optimizer->opt;
    const int nstate = optk_optim_state_count(o);
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, nstate, false);
    if (s != OPTK_OK) return s;
    for (int t = 0; t < count && s == OPTK_OK; ++t) {
        const optk_param_tensor *x = &tensors[t];
        const size_t bytes = (size_t)x->numel * sizeof(float);
        for (int j = 0; j < nstate && s == OPTK_OK; ++j) {
            if (j == 0 && is_schedule_free(o)) {
                s = ctx->ops->mem_copy(ctx, x->state[0], x->param, bytes);
            } else if (j == 0 && o->rule == OPTK_RULE_ADAGRAD &&
                       o->initial_accumulator_value != 0) {
                optk_element_launch fill = optk_element_launch_for(OPTK_ELEMENT_FILL_STATE, x, 1);
                fill.k.fill_state.value = (float)o->initial_accumulator_value;
                fill.nstate = fill.nwritten = 1;
                s = ctx->ops->element_apply(ctx, &fill);
            } else {
                s = ctx->ops->mem_set(ctx, x->state[j], 0, bytes);
            }
        }
    }
    return s;
}

/* Checks and runs one step with the given gradient multipliers. */
static optk_status step(optk_optimizer *optimizer, const char *op, const optk_param_tensor *tensors,
                        int count, float grad_unscale, float grad_clip) {
    optk_context *ctx = optimizer->ctx;
    const optk_optim_options *o = &optimizer->opt;
    optk_element_launch launch = optk_element_launch_for(OPTK_ELEMENT_RULE_COUNT, tensors, count);
    launch.grad_unscale = grad_unscale;
    launch.grad_clip = grad_clip;
    optk_schedule_free_state next;
    optk_status s = optk_optim_prepare(ctx, op, o, optimizer->steps + 1, &optimizer->schedule_free,
                                       &next, &launch);
    if (s != OPTK_OK) return s;
    s = ctx->ops->element_apply(ctx, &launch);
    if (s != OPTK_OK) return s;
    optimizer->steps += 1;
    optimizer->schedule_free = next;
    return OPTK_OK;
}

/* The checks every step shares: train mode, then the tensors. */
static optk_status check_step(optk_optimizer *optimizer, const char *op,
                              const optk_param_tensor *tensors, int count) {
    optk_context *ctx = optimizer->ctx;
    if (optimizer->eval_mode) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: the Schedule-Free optimizer is in eval mode; call "
                         "optk_optimizer_train first",
                         op);
    }
    return optk_check_param_tensors(ctx, op, tensors, count,
                                    optk_optim_state_count(&optimizer->opt), true);
}

optk_status optk_optimizer_step(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                int count) {
    static const char op[] = "optimizer_step";
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check_step(optimizer, op, tensors, count);
    return s != OPTK_OK ? s : step(optimizer, op, tensors, count, 1.0f, 1.0f);
}

optk_status optk_grad_norm(optk_context *ctx, const optk_param_tensor *tensors, int count,
                           double *norm) {
    static const char op[] = "grad_norm";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!norm) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: norm is NULL", op);
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, 0, true);
    double sum = 0.0;
    if (s == OPTK_OK) s = ctx->ops->grad_sum_squares(ctx, tensors, count, &sum);
    if (s == OPTK_OK) *norm = sqrt(sum);
    return s;
}

optk_status optk_optimizer_step_scaled(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                       int count, const optk_grad_options *grad,
                                       optk_step_report *report) {
    static const char op[] = "optimizer_step_scaled";
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    if (!grad) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: grad options are NULL", op);
    optk_status s;
    if (!(grad->inv_scale > 0.0 && grad->inv_scale <= FLT_MAX)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: inv_scale must be finite and > 0, got %g", op, grad->inv_scale);
    }
    if ((s = optk_check_hparam(ctx, op, "max_norm", grad->max_norm, 0.0, HUGE_VAL, false)) !=
            OPTK_OK ||
        (s = check_step(optimizer, op, tensors, count)) != OPTK_OK) {
        return s;
    }
    double sum = 0.0;
    if ((s = ctx->ops->grad_sum_squares(ctx, tensors, count, &sum)) != OPTK_OK) return s;
    /* The norm of the unscaled gradients, as PyTorch computes it after unscale_. */
    const double norm = sqrt(sum) * grad->inv_scale;
    optk_step_report r = {.grad_norm = norm, .skipped = !isfinite(norm)};
    if (!r.skipped) {
        const double clip = grad->max_norm > 0.0 ? fmin(1.0, grad->max_norm / (norm + 1e-6)) : 1.0;
        s = step(optimizer, op, tensors, count, (float)grad->inv_scale, (float)clip);
    }
    if (s == OPTK_OK && report) *report = r;
    return s;
}

/* The Schedule-Free swap: p = p + w (z - p). */
static optk_status swap(optk_optimizer *optimizer, const optk_param_tensor *tensors, int count,
                        bool to_eval, const char *op) {
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    const optk_optim_options *o = &optimizer->opt;
    if (!is_schedule_free(o)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s has no train/eval modes", op,
                         optk_rule_name(o->rule));
    }
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, 1, false);
    if (s != OPTK_OK || optimizer->eval_mode == to_eval) return s;
    const double beta1 = o->rule == OPTK_RULE_SCHEDULE_FREE_SGD ? o->momentum : o->beta1;
    optk_element_launch launch =
        optk_element_launch_for(OPTK_ELEMENT_LERP_TO_STATE, tensors, count);
    launch.k.lerp_to_state.weight = (float)(to_eval ? 1.0 - 1.0 / beta1 : 1.0 - beta1);
    launch.nstate = 1;
    launch.nwritten = 0;
    s = ctx->ops->element_apply(ctx, &launch);
    if (s == OPTK_OK) optimizer->eval_mode = to_eval;
    return s;
}

optk_status optk_optimizer_eval(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                int count) {
    return swap(optimizer, tensors, count, true, "optimizer_eval");
}

optk_status optk_optimizer_train(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                 int count) {
    return swap(optimizer, tensors, count, false, "optimizer_train");
}
