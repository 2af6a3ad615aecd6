/* optim_adamw.c — the stateless AdamW call: the same rule and machinery as an
 * OPTK_RULE_ADAMW optimizer, with the step number kept by the caller. */
#include "optim_check.h"

optk_adamw_options optk_adamw_default_options(void) {
    optk_optim_options d = optk_optim_default_options(OPTK_RULE_ADAMW);
    optk_adamw_options opt = {
        .lr = d.lr,
        .beta1 = d.beta1,
        .beta2 = d.beta2,
        .eps = d.eps,
        .weight_decay = d.weight_decay,
        .amsgrad = d.amsgrad,
        .maximize = d.maximize,
    };
    return opt;
}

/* The general options of the same AdamW. */
static optk_optim_options as_optim_options(const optk_adamw_options *a) {
    optk_optim_options o = optk_optim_default_options(OPTK_RULE_ADAMW);
    o.lr = a->lr;
    o.beta1 = a->beta1;
    o.beta2 = a->beta2;
    o.eps = a->eps;
    o.weight_decay = a->weight_decay;
    o.amsgrad = a->amsgrad;
    o.maximize = a->maximize;
    return o;
}

int optk_adamw_state_count(const optk_adamw_options *opt) {
    if (!opt) return -1;
    const optk_optim_options o = as_optim_options(opt);
    return optk_optim_state_count(&o);
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
    const optk_optim_options o = as_optim_options(opt);
    optk_status s = optk_optim_check_options(ctx, op, &o);
    if (s != OPTK_OK) return s;
    const optk_tensor_checks checks = optk_tensor_checks_f32(optk_optim_state_count(&o), true);
    s = optk_check_param_tensors(ctx, op, tensors, count, &checks);
    if (s != OPTK_OK) return s;
    optk_element_launch launch = optk_element_launch_for(OPTK_ELEMENT_ADAM, tensors, count);
    s = optk_optim_prepare(ctx, op, &o, step, NULL, NULL, &launch);
    if (s != OPTK_OK) return s;
    return ctx->ops->element_apply(ctx, &launch);
}
