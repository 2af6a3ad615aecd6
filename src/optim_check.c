/* optim_check.c — argument checks every optimizer step shares. */
#include "optim_check.h"

#include <math.h>
#include <stdlib.h>

optk_status optk_check_hparam(optk_context *ctx, const char *op, const char *name, double value,
                              double lo, double hi, bool hi_open) {
    bool ok = isfinite(value) && value >= lo && (hi_open ? value < hi : value <= hi);
    if (ok) return OPTK_OK;
    return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                     "%s: %s must be finite and in [%g, %g%c, got %g", op, name, lo, hi,
                     hi_open ? ')' : ']', value);
}

optk_tensor_checks optk_tensor_checks_f32(int nstate, bool needs_grad) {
    optk_tensor_checks c = {nstate, true, needs_grad, OPTK_F32, OPTK_F32, OPTK_MASTER_FORBIDDEN,
                            NULL};
    return c;
}

optk_tensor_checks optk_tensor_checks_for(const optk_optim_options *o, bool needs_grad) {
    const bool master = o->param_dtype != OPTK_F32 && !o->stochastic_rounding;
    optk_tensor_checks c = {optk_optim_state_count(o),
                            true,
                            needs_grad,
                            o->param_dtype,
                            o->grad_dtype,
                            master ? OPTK_MASTER_REQUIRED : OPTK_MASTER_FORBIDDEN,
                            NULL};
    return c;
}

/* One buffer of the list, for the overlap check. */
typedef struct buffer_range {
    uintptr_t begin, end;
    int tensor;
    int role; /* 0 param, 1 grad, 2 master, 3.. state[role - 3] */
} buffer_range;

static int compare_begin(const void *a, const void *b) {
    uintptr_t x = ((const buffer_range *)a)->begin, y = ((const buffer_range *)b)->begin;
    return (x > y) - (x < y);
}

static const char *role_name(const optk_tensor_checks *checks, int role) {
    static const char *const names[3 + OPTK_MAX_STATE] = {
        "param", "grad", "master", "state[0]", "state[1]", "state[2]", "state[3]"};
    return checks->role_names ? checks->role_names[role] : names[role];
}

/* Sorts the ranges by start; two overlap iff one starts before the furthest end so far. */
static optk_status check_no_overlap(optk_context *ctx, const char *op,
                                    const optk_tensor_checks *checks, buffer_range *ranges,
                                    size_t n) {
    qsort(ranges, n, sizeof *ranges, compare_begin);
    size_t furthest = 0;
    for (size_t i = 1; i < n; ++i) {
        if (ranges[i].begin < ranges[furthest].end) {
            const buffer_range *a = &ranges[furthest], *b = &ranges[i];
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: tensors[%d].%s overlaps tensors[%d].%s", op, a->tensor,
                             role_name(checks, a->role), b->tensor, role_name(checks, b->role));
        }
        if (ranges[i].end > ranges[furthest].end) furthest = i;
    }
    return OPTK_OK;
}

optk_status optk_check_param_tensors(optk_context *ctx, const char *op,
                                     const optk_param_tensor *tensors, int count,
                                     const optk_tensor_checks *checks) {
    if (count < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: count must be >= 1, got %d", op,
                         count);
    }
    if (!tensors) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: tensors is NULL", op);

    const int per_tensor = 3 + checks->nstate;
    const size_t sizes[3 + OPTK_MAX_STATE] = {
        optk_dtype_size(checks->param_dtype), optk_dtype_size(checks->grad_dtype), 4, 4, 4, 4, 4};
    size_t n = 0;
    enum { STACK_RANGES = 1024 };
    buffer_range stack_ranges[STACK_RANGES];
    const size_t most = (size_t)count * (size_t)per_tensor;
    buffer_range *ranges = most <= STACK_RANGES ? stack_ranges : malloc(most * sizeof *ranges);
    if (!ranges) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);

    optk_status status = OPTK_OK;
    for (int t = 0; t < count && status == OPTK_OK; ++t) {
        const optk_param_tensor *x = &tensors[t];
        /* Bytes must fit in a size_t and an int64 with room for index arithmetic. */
        if (x->numel < 1 || x->numel > (INT64_MAX >> 4)) {
            status = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                               "%s: tensors[%d].numel must be in [1, 2^59), got %lld", op, t,
                               (long long)x->numel);
            break;
        }
        if (x->master && checks->master == OPTK_MASTER_FORBIDDEN) {
            status =
                optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                          "%s: tensors[%d].master must be NULL: a master copy is for bf16/fp16 "
                          "parameters without stochastic rounding",
                          op, t);
            break;
        }
        const void *buffers[3 + OPTK_MAX_STATE] = {x->param, x->grad, x->master};
        for (int s = 0; s < checks->nstate; ++s)
            buffers[3 + s] = x->state[s];
        for (int r = 0; r < per_tensor; ++r) {
            if ((r == 0 && !checks->needs_param) || (r == 1 && !checks->needs_grad) ||
                (r == 2 && checks->master != OPTK_MASTER_REQUIRED)) {
                continue;
            }
            if (!buffers[r]) {
                status = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: tensors[%d].%s is NULL", op,
                                   t, role_name(checks, r));
                break;
            }
            if (((uintptr_t)buffers[r] & (sizes[r] - 1)) != 0) {
                status = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                                   "%s: tensors[%d].%s is not %zu-byte aligned", op, t,
                                   role_name(checks, r), sizes[r]);
                break;
            }
            buffer_range *range = &ranges[n++];
            range->begin = (uintptr_t)buffers[r];
            range->end = range->begin + (uintptr_t)x->numel * sizes[r];
            range->tensor = t;
            range->role = r;
        }
    }
    if (status == OPTK_OK) status = check_no_overlap(ctx, op, checks, ranges, n);
    if (ranges != stack_ranges) free(ranges);
    return status;
}
