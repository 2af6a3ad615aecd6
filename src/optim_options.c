/* optim_options.c — the rules' defaults, names, state layouts and hyperparameter checks. */
#include "optim_check.h"

#include <math.h>

optk_optim_options optk_optim_default_options(optk_rule rule) {
    optk_optim_options o = {
        .rule = rule,
        .lr = 1e-3,
        .beta1 = 0.9,
        .beta2 = 0.999,
        .eps = 1e-8,
        .rectify = true,
        .weight_decouple = true,
        .degenerated_to_sgd = true,
        .rho = 0.04,
        .hessian_power = 1.0,
        .weight_lr_power = 2.0,
    };
    switch (rule) {
    case OPTK_RULE_SGD:
        break;
    case OPTK_RULE_SIGNUM:
        o.lr = 1e-2; /* MXNet's Signum, the authors' reference implementation */
        o.momentum = 0.9;
        break;
    case OPTK_RULE_ADAGRAD:
        o.lr = 1e-2;
        o.eps = 1e-10;
        break;
    case OPTK_RULE_RMSPROP:
        o.lr = 1e-2;
        o.alpha = 0.99;
        break;
    case OPTK_RULE_ADAM:
        break;
    case OPTK_RULE_ADAMW:
        o.weight_decay = 1e-2;
        break;
    case OPTK_RULE_ADABELIEF:
        o.eps = 1e-16;
        break;
    case OPTK_RULE_DIFFGRAD:
        break;
    case OPTK_RULE_ADAN:
        o.beta1 = 0.98;
        o.beta2 = 0.92;
        o.beta3 = 0.99;
        break;
    case OPTK_RULE_LION:
        o.lr = 1e-4;
        o.beta2 = 0.99;
        break;
    case OPTK_RULE_SOPHIA:
        o.lr = 1e-4;
        o.beta1 = 0.965;
        o.beta2 = 0.99;
        o.weight_decay = 0.1;
        break;
    case OPTK_RULE_ADAHESSIAN:
        o.lr = 0.15;
        o.eps = 1e-4;
        break;
    case OPTK_RULE_SCHEDULE_FREE_ADAMW:
        o.lr = 0.0025;
        break;
    case OPTK_RULE_SCHEDULE_FREE_SGD:
        o.lr = 1.0;
        o.momentum = 0.9;
        break;
    case OPTK_RULE_COUNT:
        break;
    }
    return o;
}

const char *optk_rule_name(optk_rule rule) {
    static const char *const names[OPTK_RULE_COUNT] = {"sgd",
                                                       "signum",
                                                       "adagrad",
                                                       "rmsprop",
                                                       "adam",
                                                       "adamw",
                                                       "adabelief",
                                                       "diffgrad",
                                                       "adan",
                                                       "lion",
                                                       "sophia",
                                                       "adahessian",
                                                       "schedule_free_adamw",
                                                       "schedule_free_sgd"};
    return (unsigned)rule < OPTK_RULE_COUNT ? names[rule] : "unknown";
}

/* The state buffers of a rule with these options, in order; returns their count. */
static int state_names(const optk_optim_options *o, const char *names[OPTK_MAX_STATE]) {
    int n = 0;
    switch (o->rule) {
    case OPTK_RULE_SGD:
        if (o->momentum != 0.0) names[n++] = "momentum_buffer";
        break;
    case OPTK_RULE_SIGNUM:
        if (o->momentum != 0.0) names[n++] = "m";
        break;
    case OPTK_RULE_ADAGRAD:
        names[n++] = "sum";
        break;
    case OPTK_RULE_RMSPROP:
        names[n++] = "square_avg";
        if (o->centered) names[n++] = "grad_avg";
        if (o->momentum > 0.0) names[n++] = "momentum_buffer";
        break;
    case OPTK_RULE_ADAM:
    case OPTK_RULE_ADAMW:
        names[n++] = "m";
        names[n++] = "v";
        if (o->amsgrad) names[n++] = "vmax";
        break;
    case OPTK_RULE_ADABELIEF:
        names[n++] = "m";
        names[n++] = "s";
        break;
    case OPTK_RULE_DIFFGRAD:
        names[n++] = "m";
        names[n++] = "v";
        names[n++] = "prev_grad";
        break;
    case OPTK_RULE_ADAN:
        names[n++] = "m";
        names[n++] = "d";
        names[n++] = "n";
        names[n++] = "prev_grad";
        break;
    case OPTK_RULE_LION:
        names[n++] = "m";
        break;
    case OPTK_RULE_SOPHIA:
        names[n++] = "m";
        names[n++] = "h";
        break;
    case OPTK_RULE_ADAHESSIAN:
        names[n++] = "m";
        names[n++] = "v";
        names[n++] = "D";
        break;
    case OPTK_RULE_SCHEDULE_FREE_ADAMW:
        names[n++] = "z";
        names[n++] = "v";
        break;
    case OPTK_RULE_SCHEDULE_FREE_SGD:
        names[n++] = "z";
        break;
    case OPTK_RULE_COUNT:
        return -1;
    }
    return n;
}

int optk_optim_state_count(const optk_optim_options *opt) {
    if (!opt || (unsigned)opt->rule >= OPTK_RULE_COUNT) return -1;
    const char *names[OPTK_MAX_STATE];
    return state_names(opt, names);
}

const char *optk_optim_state_name(const optk_optim_options *opt, int index) {
    const char *names[OPTK_MAX_STATE];
    int n = optk_optim_state_count(opt);
    if (n < 0 || index < 0 || index >= n) return NULL;
    state_names(opt, names);
    return names[index];
}

int optk_optim_written_state_count(const optk_optim_options *opt) {
    int n = optk_optim_state_count(opt);
    /* The curvature the second-order rules read is written by the estimators, not the step. */
    if (opt->rule == OPTK_RULE_SOPHIA || opt->rule == OPTK_RULE_ADAHESSIAN) return n - 1;
    return n;
}

optk_status optk_optim_check_options(optk_context *ctx, const char *op,
                                     const optk_optim_options *o) {
    if (!o) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: options are NULL", op);
    if ((unsigned)o->rule >= OPTK_RULE_COUNT) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown rule %d", op, (int)o->rule);
    }
    optk_status s;
#define CHECK(name, value, lo, hi, open)                                                           \
    if ((s = optk_check_hparam(ctx, op, name, value, lo, hi, open)) != OPTK_OK) return s
    CHECK("lr", o->lr, 0.0, HUGE_VAL, false);
    CHECK("weight_decay", o->weight_decay, 0.0, HUGE_VAL, false);
    switch (o->rule) {
    case OPTK_RULE_SGD:
        CHECK("momentum", o->momentum, 0.0, 1.0, false);
        CHECK("dampening", o->dampening, 0.0, 1.0, false);
        if (o->nesterov && (o->momentum <= 0.0 || o->dampening != 0.0)) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: nesterov needs momentum > 0 and dampening 0, got momentum %g, "
                             "dampening %g",
                             op, o->momentum, o->dampening);
        }
        break;
    case OPTK_RULE_SIGNUM:
        CHECK("momentum", o->momentum, 0.0, 1.0, true);
        break;
    case OPTK_RULE_ADAGRAD:
        CHECK("lr_decay", o->lr_decay, 0.0, HUGE_VAL, false);
        CHECK("initial_accumulator_value", o->initial_accumulator_value, 0.0, HUGE_VAL, false);
        CHECK("eps", o->eps, 0.0, HUGE_VAL, false);
        break;
    case OPTK_RULE_RMSPROP:
        CHECK("alpha", o->alpha, 0.0, 1.0, false);
        CHECK("momentum", o->momentum, 0.0, 1.0, false);
        CHECK("eps", o->eps, 0.0, HUGE_VAL, false);
        break;
    case OPTK_RULE_ADAN:
        CHECK("beta3", o->beta3, 0.0, 1.0, true); /* fall through */
    case OPTK_RULE_ADAM:
    case OPTK_RULE_ADAMW:
    case OPTK_RULE_ADABELIEF:
    case OPTK_RULE_DIFFGRAD:
    case OPTK_RULE_ADAHESSIAN:
    case OPTK_RULE_SCHEDULE_FREE_ADAMW:
        CHECK("beta1", o->beta1, 0.0, 1.0, true);
        CHECK("beta2", o->beta2, 0.0, 1.0, true);
        CHECK("eps", o->eps, 0.0, HUGE_VAL, false);
        if (o->rule == OPTK_RULE_ADAHESSIAN) {
            if (!(o->hessian_power > 0.0 && o->hessian_power <= 1.0)) {
                return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                                 "%s: hessian_power must be in (0, 1], got %g", op,
                                 o->hessian_power);
            }
        }
        break;
    case OPTK_RULE_LION:
    case OPTK_RULE_SOPHIA:
        CHECK("beta1", o->beta1, 0.0, 1.0, true);
        CHECK("beta2", o->beta2, 0.0, 1.0, true);
        if (o->rule == OPTK_RULE_SOPHIA) {
            CHECK("rho", o->rho, 0.0, HUGE_VAL, false);
            if (!(o->batch_tokens > 0.0 && isfinite(o->batch_tokens))) {
                return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                                 "%s: batch_tokens (Sophia's bs, tokens per batch) must be set "
                                 "and > 0, got %g",
                                 op, o->batch_tokens);
            }
        }
        break;
    case OPTK_RULE_SCHEDULE_FREE_SGD:
        CHECK("momentum", o->momentum, 0.0, 1.0, true);
        break;
    case OPTK_RULE_COUNT:
        break;
    }
    if (o->rule == OPTK_RULE_SCHEDULE_FREE_ADAMW || o->rule == OPTK_RULE_SCHEDULE_FREE_SGD) {
        CHECK("r", o->r, 0.0, HUGE_VAL, false);
        CHECK("weight_lr_power", o->weight_lr_power, 0.0, HUGE_VAL, false);
        if (o->warmup_steps < 0) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: warmup_steps must be >= 0, got %lld", op,
                             (long long)o->warmup_steps);
        }
        const double b1 = o->rule == OPTK_RULE_SCHEDULE_FREE_SGD ? o->momentum : o->beta1;
        if (b1 <= 0.0) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: Schedule-Free needs beta1 (momentum) > 0 for its eval point, "
                             "got %g",
                             op, b1);
        }
    }
#undef CHECK
    const optk_dtype dtypes[2] = {o->param_dtype, o->grad_dtype};
    for (int d = 0; d < 2; ++d) {
        if (dtypes[d] != OPTK_F32 && dtypes[d] != OPTK_BF16 && dtypes[d] != OPTK_F16) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: %s must be f32, bf16 or f16, got %d", op,
                             d == 0 ? "param_dtype" : "grad_dtype", (int)dtypes[d]);
        }
    }
    if (o->stochastic_rounding && o->param_dtype != OPTK_BF16) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: stochastic_rounding needs bf16 parameters, got %s", op,
                         optk_dtype_name(o->param_dtype));
    }
    return OPTK_OK;
}
