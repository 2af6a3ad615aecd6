/* optim_adamw.c — AdamW: argument checks, the per-step scalars, then the backend. */
#include "optim_check.h"

#include <math.h>

optk_adamw_options optk_adamw_default_options(void) {
    optk_adamw_options opt = {
        .lr = 1e-3,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
        .weight_decay = 1e-2,
        .amsgrad = false,
        .maximize = false,
    };
    return opt;
}

int optk_adamw_state_count(const optk_adamw_options *opt) {
    if (!opt) return -1;
    return opt->amsgrad ? OPTK_ADAMW_STATES_AMSGRAD : OPTK_ADAMW_STATES;
}

/* The scalars of step t, derived in double as PyTorch does in Python, rounded once. */
static optk_adamw_consts adamw_consts(const optk_adamw_options *opt, int64_t step) {
    const double t = (double)step;
    const double bc1 = 1.0 - pow(opt->beta1, t);
    const double bc2 = 1.0 - pow(opt->beta2, t);
    optk_adamw_consts k = {
        .beta1 = (float)opt->beta1,
        .one_minus_beta1 = (float)(1.0 - opt->beta1),
        .beta2 = (float)opt->beta2,
        .one_minus_beta2 = (float)(1.0 - opt->beta2),
        .decay = (float)(1.0 - opt->lr * opt->weight_decay),
        .step_size = (float)(opt->lr / bc1),
        .bc2_sqrt = (float)sqrt(bc2),
        .eps = (float)opt->eps,
        .grad_sign = opt->maximize ? -1.0f : 1.0f,
        .amsgrad = opt->amsgrad ? 1 : 0,
    };
    return k;
}

optk_status optk_adamw_step(optk_context *ctx, const optk_adamw_options *opt, int64_t step,
                            const optk_param_tensor *tensors, int count) {
    static const char op[] = "adamw_step";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!opt) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: opt is NULL", op);
    if (step < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: step must be >= 1, got %lld", op,
                         (long long)step);
    }
    optk_status s;
    if ((s = optk_check_hparam(ctx, op, "lr", opt->lr, 0.0, HUGE_VAL, false)) != OPTK_OK ||
        (s = optk_check_hparam(ctx, op, "beta1", opt->beta1, 0.0, 1.0, true)) != OPTK_OK ||
        (s = optk_check_hparam(ctx, op, "beta2", opt->beta2, 0.0, 1.0, true)) != OPTK_OK ||
        (s = optk_check_hparam(ctx, op, "eps", opt->eps, 0.0, HUGE_VAL, false)) != OPTK_OK ||
        (s = optk_check_hparam(ctx, op, "weight_decay", opt->weight_decay, 0.0, HUGE_VAL, false)) !=
            OPTK_OK) {
        return s;
    }
    const optk_adamw_consts k = adamw_consts(opt, step);
    /* A zero denominator (eps = 0 with v = 0) is a user's choice; an infinite or zero
     * step size from overflowing scalars is not a valid step. */
    if (!isfinite(k.step_size) || !isfinite(k.decay) || k.bc2_sqrt <= 0.0f) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: lr / (1 - beta1^t) or 1 - lr * weight_decay overflows float at "
                         "step %lld",
                         op, (long long)step);
    }
    s = optk_check_param_tensors(ctx, op, tensors, count, optk_adamw_state_count(opt));
    if (s != OPTK_OK) return s;

    const optk_adamw_launch launch = {.consts = k, .tensors = tensors, .count = count};
    return ctx->ops->adamw_step(ctx, &launch);
}
