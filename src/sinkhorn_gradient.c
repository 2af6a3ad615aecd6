/* sinkhorn_gradient.c — the points' gradient of a solved problem (optk_sinkhorn_gradient):
 * every argument checked here, then the backend's plan-weighted cost gradient for each side
 * asked for. */
#include "internal.h"
#include "ot_check.h"

optk_status optk_sinkhorn_gradient(optk_context *ctx, const optk_ot_problem *p, double epsilon,
                                   const float *f, const float *g, float *grad_x, float *grad_y) {
    static const char op[] = "sinkhorn_gradient";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = optk_ot_check_points(
        ctx, op, p, "needs point clouds (a dense cost has no points to differentiate)");
    if (s != OPTK_OK) return s;
    if ((s = optk_ot_check_epsilon(ctx, op, epsilon)) != OPTK_OK) return s;
    if (!grad_x && !grad_y) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: grad_x and grad_y are both NULL", op);
    }
    const uintptr_t B = (uintptr_t)p->batch, n = (uintptr_t)p->n, m = (uintptr_t)p->m;
    const uintptr_t d = (uintptr_t)p->dim;
    const optk_ot_span spans[] = {
        /* outputs first: "grad_x overlaps x" */
        {"grad_x", (uintptr_t)grad_x, B * n * d * 4, true, false},
        {"grad_y", (uintptr_t)grad_y, B * m * d * 4, true, false},
        {"x", (uintptr_t)p->x, B * n * d * 4, false, true},
        {"y", (uintptr_t)p->y, B * m * d * 4, false, true},
        {"f", (uintptr_t)f, B * n * 4, false, true},
        {"g", (uintptr_t)g, B * m * 4, false, true},
    };
    s = optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
    if (s != OPTK_OK) return s;
    if ((s = optk_ot_check_backend(ctx, op, ctx->ops->plan_gradient != NULL)) != OPTK_OK) return s;
    const optk_ot_view view = optk_ot_cost_view(p);
    if (grad_x)
        s = ctx->ops->plan_gradient(ctx, &view, p->batch, (float)epsilon, f, g, false, grad_x);
    if (s == OPTK_OK && grad_y)
        s = ctx->ops->plan_gradient(ctx, &view, p->batch, (float)epsilon, f, g, true, grad_y);
    return s;
}
