/* optimizer.c — the stateful optimizer object: options, step counter, Schedule-Free scalars
 * and mode; argument checks, then one element-rule launch per step. */
#include "optim_check.h"
#include "optimizer_object.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

optk_status optk_optimizer_reserve_groups(optk_optimizer *o, int ngroups) {
    if (ngroups <= o->groups_seen) return OPTK_OK;
    optk_schedule_free_state *grown = realloc(o->schedule_free, (size_t)ngroups * sizeof *grown);
    if (!grown) return optk_fail(o->ctx, OPTK_ERR_OUT_OF_MEMORY, "optimizer: out of host memory");
    for (int g = o->groups_seen; g < ngroups; ++g)
        grown[g] = (optk_schedule_free_state){-1.0, 0.0};
    o->schedule_free = grown;
    o->groups_seen = ngroups;
    return OPTK_OK;
}

/* The launch's precision fields from the options. */
static void set_precision(optk_element_launch *l, const optk_optim_options *o, uint64_t sr_stream,
                          int tensor_base) {
    l->param_dtype = o->param_dtype;
    l->grad_dtype = o->grad_dtype;
    l->precision = o->param_dtype == OPTK_F32 ? OPTK_PRECISION_F32
                   : o->stochastic_rounding   ? OPTK_PRECISION_STOCHASTIC
                                              : OPTK_PRECISION_MASTER;
    l->seed = o->seed;
    l->sr_stream = sr_stream;
    l->tensor_base = tensor_base;
}

bool optk_is_schedule_free(const optk_optim_options *o) {
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
    if ((s = optk_optimizer_reserve_groups(o, 1)) != OPTK_OK) {
        free(o);
        return s;
    }
    *out = o;
    return OPTK_OK;
}

void optk_optimizer_free(optk_optimizer *optimizer) {
    if (!optimizer) return;
    optk_mem_free(optimizer->ctx, optimizer->area);
    optk_mem_free(optimizer->ctx, optimizer->partials);
    free(optimizer->schedule_free);
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
    const optk_tensor_checks checks = optk_tensor_checks_for(o, false);
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, &checks);
    if (s != OPTK_OK) return s;
    for (int t = 0; t < count && s == OPTK_OK; ++t) {
        const optk_param_tensor *x = &tensors[t];
        const size_t bytes = (size_t)x->numel * sizeof(float);
        for (int j = 0; j < nstate && s == OPTK_OK; ++j) {
            const bool copy = j == 0 && optk_is_schedule_free(o);
            const bool fill =
                j == 0 && o->rule == OPTK_RULE_ADAGRAD && o->initial_accumulator_value != 0;
            if (copy || fill) {
                /* Through the machinery: it loads p from the master copy or a bf16/fp16
                 * parameter (and stores it back unchanged, rounded as the step would). */
                optk_element_launch l = optk_element_launch_for(
                    copy ? OPTK_ELEMENT_COPY_PARAM_TO_STATE : OPTK_ELEMENT_FILL_STATE, x, 1);
                set_precision(&l, o, 0, t);
                l.grad_dtype = OPTK_F32; /* not read */
                l.k.fill_state.value = (float)o->initial_accumulator_value;
                l.k.copy_param_to_state = l.k.fill_state;
                l.nstate = l.nwritten = 1;
                s = ctx->ops->element_apply(ctx, &l);
            } else {
                s = ctx->ops->mem_set(ctx, x->state[j], 0, bytes);
            }
        }
    }
    return s;
}

/* Checks what a step call was given, beyond the tensors themselves. */
static optk_status check_call(optk_optimizer *optimizer, const char *op,
                              const optk_param_group *groups, int ngroups,
                              const optk_grad_options *grad) {
    optk_context *ctx = optimizer->ctx;
    if (optimizer->eval_mode) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: the Schedule-Free optimizer is in eval mode; call "
                         "optk_optimizer_train first",
                         op);
    }
    if (ngroups < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: ngroups must be >= 1, got %d", op,
                         ngroups);
    }
    if (!groups) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: groups is NULL", op);
    for (int g = 0; g < ngroups; ++g) {
        char name[64];
        snprintf(name, sizeof name, "groups[%d].lr_scale", g);
        optk_status s = optk_check_hparam(ctx, op, name, groups[g].lr_scale, 0.0, HUGE_VAL, false);
        if (s != OPTK_OK) return s;
        snprintf(name, sizeof name, "groups[%d].weight_decay_scale", g);
        s = optk_check_hparam(ctx, op, name, groups[g].weight_decay_scale, 0.0, HUGE_VAL, false);
        if (s != OPTK_OK) return s;
    }
    if (!grad) return OPTK_OK;
    if (!(grad->inv_scale > 0.0 && grad->inv_scale <= FLT_MAX)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: inv_scale must be finite and > 0, got %g", op, grad->inv_scale);
    }
    return optk_check_hparam(ctx, op, "max_norm", grad->max_norm, 0.0, HUGE_VAL, false);
}

enum { STACK_TENSORS = 256, STACK_GROUPS = 16 };

/* The groups' tensors as one list (*all; *joined when it had to be allocated, else NULL),
 * checked together: overlaps across groups, and one numbering of tensors in messages. */
static optk_status gather_tensors(optk_optimizer *optimizer, const char *op,
                                  const optk_param_group *groups, int ngroups,
                                  optk_param_tensor stack_all[STACK_TENSORS],
                                  const optk_param_tensor **all, int *total,
                                  optk_param_tensor **joined) {
    optk_context *ctx = optimizer->ctx;
    const optk_optim_options *o = &optimizer->opt;
    *all = groups[0].tensors;
    *total = groups[0].count;
    *joined = NULL;
    if (ngroups > 1) {
        int n = 0;
        for (int g = 0; g < ngroups; ++g) {
            if (groups[g].count < 1 || !groups[g].tensors) {
                return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                                 "%s: groups[%d] needs tensors and count >= 1", op, g);
            }
            if (groups[g].count > INT_MAX - n) {
                return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: too many tensors", op);
            }
            n += groups[g].count;
        }
        optk_param_tensor *list = n <= STACK_TENSORS ? stack_all : malloc((size_t)n * sizeof *list);
        if (!list) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
        if (list != stack_all) *joined = list;
        for (int g = 0, at = 0; g < ngroups; at += groups[g].count, ++g)
            memcpy(list + at, groups[g].tensors, (size_t)groups[g].count * sizeof *list);
        *all = list;
        *total = n;
    }
    const optk_tensor_checks checks = optk_tensor_checks_for(o, true);
    optk_status s = optk_check_param_tensors(ctx, op, *all, *total, &checks);
    if (s == OPTK_OK && o->stochastic_rounding && *total >= (1 << 20)) {
        /* Each tensor keys its own random stream: 2^20 of them per step. */
        s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                      "%s: stochastic rounding takes at most 2^20 - 1 tensors a call, got %d", op,
                      *total);
    }
    return s;
}

/* Every step goes through here: checks, the optional global norm and skip, each group's
 * scalars (all prepared before anything is launched), one launch per group, then the
 * counter and the per-group Schedule-Free scalars. */
static optk_status step_groups(optk_optimizer *optimizer, const char *op,
                               const optk_param_group *groups, int ngroups,
                               const optk_grad_options *grad, optk_step_report *report) {
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    if (optimizer->area) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: this optimizer took capturable steps (its step counter lives in "
                         "backend memory now); keep calling optk_optimizer_step_capturable",
                         op);
    }
    optk_status s = check_call(optimizer, op, groups, ngroups, grad);
    if (s != OPTK_OK) return s;
    const optk_optim_options *o = &optimizer->opt;

    const optk_param_tensor *all = NULL;
    int total = 0;
    optk_param_tensor stack_all[STACK_TENSORS], *joined = NULL;
    s = gather_tensors(optimizer, op, groups, ngroups, stack_all, &all, &total, &joined);

    optk_step_report r = {.grad_norm = 0.0, .skipped = false};
    float unscale = 1.0f, clip = 1.0f;
    if (s == OPTK_OK && grad) {
        double sum = 0.0;
        s = ctx->ops->grad_sum_squares(ctx, all, total, o->grad_dtype, &sum);
        /* The norm of the unscaled gradients, as PyTorch computes it after unscale_. */
        r.grad_norm = sqrt(sum) * grad->inv_scale;
        r.skipped = !isfinite(r.grad_norm);
        unscale = (float)grad->inv_scale;
        if (grad->max_norm > 0.0) clip = (float)fmin(1.0, grad->max_norm / (r.grad_norm + 1e-6));
    }
    free(joined);
    if (s == OPTK_OK) s = optk_optimizer_reserve_groups(optimizer, ngroups);
    if (s != OPTK_OK || r.skipped) {
        if (s == OPTK_OK && report) *report = r;
        return s;
    }

    optk_element_launch stack_launches[STACK_GROUPS], *launches = stack_launches;
    optk_schedule_free_state stack_next[STACK_GROUPS], *next = stack_next;
    if (ngroups > STACK_GROUPS) {
        launches = malloc((size_t)ngroups * sizeof *launches);
        next = malloc((size_t)ngroups * sizeof *next);
        if (!launches || !next)
            s = optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    }
    int first_tensor = 0;
    for (int g = 0; g < ngroups && s == OPTK_OK; ++g) {
        optk_optim_options group = *o;
        group.lr = o->lr * groups[g].lr_scale;
        group.weight_decay = o->weight_decay * groups[g].weight_decay_scale;
        launches[g] =
            optk_element_launch_for(OPTK_ELEMENT_RULE_COUNT, groups[g].tensors, groups[g].count);
        launches[g].grad_unscale = unscale;
        launches[g].grad_clip = clip;
        set_precision(&launches[g], o, 2 * (uint64_t)(optimizer->steps + 1), first_tensor);
        first_tensor += groups[g].count;
        s = optk_optim_prepare(ctx, op, &group, optimizer->steps + 1, &optimizer->schedule_free[g],
                               &next[g], &launches[g]);
    }
    for (int g = 0; g < ngroups && s == OPTK_OK; ++g)
        s = ctx->ops->element_apply(ctx, &launches[g]);
    if (s == OPTK_OK) {
        optimizer->steps += 1;
        memcpy(optimizer->schedule_free, next, (size_t)ngroups * sizeof *next);
        if (report) *report = r;
    }
    if (launches != stack_launches) free(launches);
    if (next != stack_next) free(next);
    return s;
}

optk_status optk_optimizer_step(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                int count) {
    const optk_param_group all = {tensors, count, 1.0, 1.0};
    return step_groups(optimizer, "optimizer_step", &all, 1, NULL, NULL);
}

optk_status optk_optimizer_step_scaled(optk_optimizer *optimizer, const optk_param_tensor *tensors,
                                       int count, const optk_grad_options *grad,
                                       optk_step_report *report) {
    static const char op[] = "optimizer_step_scaled";
    if (optimizer && !grad) {
        return optk_fail(optimizer->ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: grad options are NULL",
                         op);
    }
    const optk_param_group all = {tensors, count, 1.0, 1.0};
    return step_groups(optimizer, op, &all, 1, grad, report);
}

optk_status optk_optimizer_step_groups(optk_optimizer *optimizer, const optk_param_group *groups,
                                       int ngroups, const optk_grad_options *grad,
                                       optk_step_report *report) {
    return step_groups(optimizer, "optimizer_step_groups", groups, ngroups, grad, report);
}

/* The capturable step's scratch in backend memory: the area (first call; Schedule-Free's
 * carried scalars start from the host's) and room for one partial sum per reduction tile. */
static optk_status reserve_capture(optk_optimizer *optimizer, const char *op,
                                   const optk_param_tensor *all, int total) {
    optk_context *ctx = optimizer->ctx;
    optk_status s;
    if (!optimizer->area) {
        optk_capture_area *host = calloc(1, sizeof *host);
        if (!host) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
        host->step = optimizer->steps; /* until a capturable step runs */
        for (int g = 0; g < OPTK_CAPTURE_MAX_GROUPS; ++g) {
            host->schedule_free[g] = g < optimizer->groups_seen
                                         ? optimizer->schedule_free[g]
                                         : (optk_schedule_free_state){-1.0, 0.0};
        }
        void *area = NULL;
        s = optk_mem_alloc(ctx, sizeof *host, &area);
        if (s == OPTK_OK) s = optk_mem_upload(ctx, area, host, sizeof *host);
        free(host);
        if (s != OPTK_OK) {
            optk_mem_free(ctx, area);
            return s;
        }
        optimizer->area = area;
    }
    const int64_t tile = ctx->ops->reduce_tile;
    int64_t tiles = 0;
    for (int t = 0; t < total && tile > 0; ++t)
        tiles += (all[t].numel + tile - 1) / tile;
    if (tiles > optimizer->partials_len) {
        void *grown = NULL;
        if ((s = optk_mem_alloc(ctx, (size_t)tiles * sizeof(double), &grown)) != OPTK_OK) return s;
        optk_mem_free(ctx, optimizer->partials);
        optimizer->partials = grown;
        optimizer->partials_len = tiles;
    }
    return OPTK_OK;
}

optk_status optk_optimizer_step_capturable(optk_optimizer *optimizer,
                                           const optk_param_group *groups, int ngroups,
                                           const optk_capture_options *options,
                                           optk_step_scalars *scalars) {
    static const char op[] = "optimizer_step_capturable";
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    const optk_optim_options *o = &optimizer->opt;
    const double max_norm = options ? options->max_norm : 0.0;
    const optk_grad_options clip = {1.0, max_norm}; /* for check_call's max_norm check */
    optk_status s = check_call(optimizer, op, groups, ngroups, &clip);
    if (s != OPTK_OK) return s;
    if (!scalars || (uintptr_t)scalars % 8 != 0) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: scalars must be 8-byte aligned backend memory, got %p", op,
                         (void *)scalars);
    }
    if (ngroups > OPTK_CAPTURE_MAX_GROUPS) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: at most %d groups in a capturable step, got %d", op,
                         OPTK_CAPTURE_MAX_GROUPS, ngroups);
    }
    if (optk_is_schedule_free(o) &&
        !(optk_is_small_natural(o->r) && optk_is_small_natural(o->weight_lr_power))) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: Schedule-Free's r (%g) and weight_lr_power (%g) must be integers "
                         "in a capturable step (pow would round differently on each backend)",
                         op, o->r, o->weight_lr_power);
    }
    const optk_param_tensor *all = NULL;
    int total = 0;
    optk_param_tensor stack_all[STACK_TENSORS], *joined = NULL;
    s = gather_tensors(optimizer, op, groups, ngroups, stack_all, &all, &total, &joined);
    if (s == OPTK_OK) s = optk_optimizer_reserve_groups(optimizer, ngroups);
    if (s == OPTK_OK) s = reserve_capture(optimizer, op, all, total);

    optk_capture_params params;
    memset(&params, 0, sizeof params);
    params.options = *o;
    params.ngroups = ngroups;
    params.reduce = options && (options->guard || max_norm > 0.0);
    params.max_norm = max_norm;
    for (int g = 0; g < ngroups; ++g) {
        params.lr_scale[g] = groups[g].lr_scale;
        params.weight_decay_scale[g] = groups[g].weight_decay_scale;
    }
    optk_capture_area *area = optimizer->area;
    if (s == OPTK_OK && params.reduce) {
        s = ctx->ops->grad_sum_squares_to(ctx, all, total, o->grad_dtype, &area->sum_squares,
                                          optimizer->partials);
    }
    free(joined);
    if (s == OPTK_OK) s = ctx->ops->capture_prepare(ctx, &params, scalars, area);
    for (int g = 0, first_tensor = 0; g < ngroups && s == OPTK_OK; ++g) {
        optk_element_launch l =
            optk_element_launch_for(optk_element_rule_of(o), groups[g].tensors, groups[g].count);
        l.nstate = optk_optim_state_count(o);
        l.nwritten = optk_optim_written_state_count(o);
        set_precision(&l, o, 0, first_tensor); /* the stream: from the device step */
        l.device_step = &area->groups[g];
        first_tensor += groups[g].count;
        s = ctx->ops->element_apply(ctx, &l);
    }
    return s;
}

/* The Schedule-Free swap: p = p + w (z - p). */
static optk_status swap(optk_optimizer *optimizer, const optk_param_tensor *tensors, int count,
                        bool to_eval, const char *op) {
    if (!optimizer) return OPTK_ERR_INVALID_ARGUMENT;
    optk_context *ctx = optimizer->ctx;
    const optk_optim_options *o = &optimizer->opt;
    if (!optk_is_schedule_free(o)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s has no train/eval modes", op,
                         optk_rule_name(o->rule));
    }
    optk_tensor_checks checks = optk_tensor_checks_for(o, false);
    checks.nstate = 1; /* the swap reads z only */
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, &checks);
    if (s != OPTK_OK || optimizer->eval_mode == to_eval) return s;
    const double beta1 = o->rule == OPTK_RULE_SCHEDULE_FREE_SGD ? o->momentum : o->beta1;
    optk_element_launch launch =
        optk_element_launch_for(OPTK_ELEMENT_LERP_TO_STATE, tensors, count);
    launch.k.lerp_to_state.weight = (float)(to_eval ? 1.0 - 1.0 / beta1 : 1.0 - beta1);
    launch.nstate = 1;
    launch.nwritten = 0;
    /* Stochastic rounding takes the stream after the last step's, 2 t + 1. After capturable
     * steps the counter lives in backend memory: read it back (the swap is not capturable). */
    int64_t steps = optimizer->steps;
    if (optimizer->area) {
        s = optk_mem_download(ctx, &steps, &optimizer->area->step, sizeof steps);
        if (s != OPTK_OK) return s;
    }
    set_precision(&launch, o, 2 * (uint64_t)steps + 1, 0);
    launch.grad_dtype = OPTK_F32; /* not read */
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
