/* ot_cost.c — optk_ot_cost_fill: the checks, then the cost of every problem from its points on
 * the backend. */
#include "internal.h"
#include "ot_check.h"

#include <limits.h>

optk_status optk_ot_cost_fill(optk_context *ctx, const optk_ot_problem *p, optk_cost_method method,
                              float *c) {
    static const char op[] = "ot_cost_fill";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = optk_ot_check_points(ctx, op, p,
                                         "the problem's cost is already dense (give points: "
                                         "OPTK_COST_SQEUCLIDEAN or OPTK_COST_EUCLIDEAN)");
    if (s != OPTK_OK) return s;
    if (method != OPTK_COST_METHOD_DIRECT && method != OPTK_COST_METHOD_GEMM) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown method %d", op, (int)method);
    }
    if (method == OPTK_COST_METHOD_GEMM &&
        (p->n > INT_MAX || p->m > INT_MAX || p->dim > INT_MAX || p->batch > INT_MAX)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: the GEMM method takes batch, n, m and dim up to 2^31 - 1", op);
    }
    const uintptr_t B = (uintptr_t)p->batch, n = (uintptr_t)p->n, m = (uintptr_t)p->m;
    const uintptr_t d = (uintptr_t)p->dim;
    const optk_ot_span spans[] = {
        {"c", (uintptr_t)c, B * n * m * 4, true, true},
        {"x", (uintptr_t)p->x, B * n * d * 4, false, true},
        {"y", (uintptr_t)p->y, B * m * d * 4, false, true},
    };
    s = optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
    if (s != OPTK_OK) return s;
    if ((s = optk_ot_check_backend(ctx, op, ctx->ops->ot_cost_fill != NULL)) != OPTK_OK) return s;
    const optk_ot_view view = optk_ot_cost_view(p);
    return ctx->ops->ot_cost_fill(ctx, &view, p->batch, method == OPTK_COST_METHOD_GEMM, c);
}
