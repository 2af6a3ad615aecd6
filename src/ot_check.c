/* ot_check.c — the argument checks the optimal-transport calls share (see ot_check.h). */
#include "ot_check.h"

#include <math.h>

optk_status optk_ot_check_spans(optk_context *ctx, const char *op, const optk_ot_span *spans,
                                int count) {
    for (int k = 0; k < count; ++k) {
        if (spans[k].required && !spans[k].begin) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, spans[k].name);
        }
        if (spans[k].begin & 3u) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s is not 4-byte aligned", op,
                             spans[k].name);
        }
    }
    for (int k = 0; k < count; ++k) {
        for (int l = k + 1; l < count; ++l) {
            const optk_ot_span *x = &spans[k], *y = &spans[l];
            if (!x->begin || !y->begin || (!x->output && !y->output)) continue;
            if (x->begin < y->begin + y->bytes && y->begin < x->begin + x->bytes) {
                return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s overlaps %s", op, x->name,
                                 y->name);
            }
        }
    }
    return OPTK_OK;
}

optk_status optk_ot_check_sizes(optk_context *ctx, const char *op, const optk_ot_problem *p) {
    if (p->batch < 1 || p->n < 1 || p->m < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: batch, n and m must be >= 1, got %lld, %lld, %lld", op,
                         (long long)p->batch, (long long)p->n, (long long)p->m);
    }
    /* batch n m (and batch (n + m) dim) must fit comfortably in an int64 of bytes. */
    const double entries = (double)p->batch * (double)p->n * (double)p->m;
    if (entries > 0x1p58) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: batch x n x m = %.3g is too large",
                         op, entries);
    }
    if (p->cost != OPTK_COST_DENSE && p->cost != OPTK_COST_SQEUCLIDEAN &&
        p->cost != OPTK_COST_EUCLIDEAN) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown cost kind %d", op,
                         (int)p->cost);
    }
    if (p->cost != OPTK_COST_DENSE &&
        (p->dim < 1 || (double)p->batch * (double)(p->n + p->m) * (double)p->dim > 0x1p58)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: dim must be >= 1 (and the points not too many), got %lld", op,
                         (long long)p->dim);
    }
    return OPTK_OK;
}

optk_status optk_ot_check_problem(optk_context *ctx, const char *op, const optk_ot_problem *p) {
    if (!p) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: problem is NULL", op);
    return optk_ot_check_sizes(ctx, op, p);
}

optk_status optk_ot_check_points(optk_context *ctx, const char *op, const optk_ot_problem *p,
                                 const char *dense_why) {
    optk_status s = optk_ot_check_problem(ctx, op, p);
    if (s == OPTK_OK && p->cost == OPTK_COST_DENSE)
        s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s", op, dense_why);
    return s;
}

optk_status optk_ot_check_epsilon(optk_context *ctx, const char *op, double epsilon) {
    if (isfinite(epsilon) && (float)epsilon > 0.0f) return OPTK_OK;
    return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                     "%s: epsilon must be finite and > 0 in float, got %g", op, epsilon);
}

optk_ot_view optk_ot_cost_view(const optk_ot_problem *p) {
    const bool dense = p->cost == OPTK_COST_DENSE;
    const optk_ot_view view = {p->n,
                               p->m,
                               dense ? 0 : p->dim,
                               (int)p->cost,
                               NULL,
                               NULL,
                               dense ? p->c : NULL,
                               dense ? NULL : p->x,
                               dense ? NULL : p->y};
    return view;
}

optk_status optk_ot_check_backend(optk_context *ctx, const char *op, bool present) {
    if (present) return OPTK_OK;
    return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: not available on the %s backend", op,
                     ctx->ops->name);
}
