/* sinkhorn_ctransform.c — potentials at any points (optk_sinkhorn_ctransform): every argument
 * checked here, then the backend's c-transform, the one the divergence's weight gradients
 * take. */
#include "common/sinkhorn.h" /* optk_sinkhorn_tau */
#include "internal.h"
#include "ot_check.h"

optk_status optk_sinkhorn_ctransform(optk_context *ctx, const optk_ot_problem *p, double epsilon,
                                     double rho, const float *potential, bool transpose,
                                     float *out) {
    static const char op[] = "sinkhorn_ctransform";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = optk_ot_check_problem(ctx, op, p);
    if (s == OPTK_OK) s = optk_ot_check_epsilon(ctx, op, epsilon);
    if (s != OPTK_OK) return s;
    if (!(rho >= 0.0)) { /* +Inf: balanced, as rho = 0 */
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: rho must be >= 0, got %g", op, rho);
    }
    const bool dense = p->cost == OPTK_COST_DENSE;
    const uintptr_t B = (uintptr_t)p->batch, n = (uintptr_t)p->n, m = (uintptr_t)p->m;
    const uintptr_t d = dense ? 0 : (uintptr_t)p->dim, others = transpose ? n : m;
    const float *weights = transpose ? p->a : p->b;
    const optk_ot_span spans[] = {
        /* out first: "out overlaps ..." */
        {"out", (uintptr_t)out, B * (transpose ? m : n) * 4, true, true},
        {"c", dense ? (uintptr_t)p->c : 0, B * n * m * 4, false, dense},
        {"x", dense ? 0 : (uintptr_t)p->x, B * n * d * 4, false, !dense},
        {"y", dense ? 0 : (uintptr_t)p->y, B * m * d * 4, false, !dense},
        {transpose ? "a" : "b", (uintptr_t)weights, B * others * 4, false, true},
        {"potential", (uintptr_t)potential, B * others * 4, false, true},
    };
    s = optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
    if (s != OPTK_OK) return s;
    if ((s = optk_ot_check_backend(ctx, op, ctx->ops->ctransform != NULL)) != OPTK_OK) return s;
    const optk_ot_view view = optk_ot_cost_view(p);
    const float eps = (float)epsilon;
    return ctx->ops->ctransform(ctx, &view, p->batch, eps, optk_sinkhorn_tau(rho, eps), potential,
                                weights, transpose, out);
}
