/* sinkhorn_divergence.c — the debiased Sinkhorn divergence of two point clouds, from three
 * batched solves (x against y, x against x, y against y) on the backend, combined on the host
 * in double: OT(a, b) - (OT(a, a) + OT(b, b)) / 2 for the entropic objective and for <P, C>.
 * The self problems take the symmetric update (common/sinkhorn.h), as GeomLoss and OTT do:
 * alternating updates converge slowly there, where the plan is nearly diagonal.
 * The call's arguments are checked once (the self problems reuse its weights and points);
 * nothing is written to the caller's outputs until all three solves have succeeded. */
#include "internal.h"
#include "ot_check.h"

#include <math.h>
#include <stdlib.h>

/* The three solves' per-problem results, in one backend allocation. */
typedef struct solves {
    float *f[3], *g[3];
    float *objective, *cost; /* 3 x batch each: ab, aa, bb */
    int32_t *converged;      /* 3 x batch */
} solves;

/* The three problems: x against y (the call's), x against x, y against y. */
static void problems_of(const optk_ot_problem *p, optk_ot_problem out[3]) {
    out[0] = *p;
    out[1] = (optk_ot_problem){p->batch, p->n, p->n, p->a, p->a, p->cost, NULL, p->x, p->x, p->dim};
    out[2] = (optk_ot_problem){p->batch, p->m, p->m, p->b, p->b, p->cost, NULL, p->y, p->y, p->dim};
}

static optk_status check_call(optk_context *ctx, const char *op, const optk_ot_problem *p,
                              const optk_sinkhorn_options *o, const optk_divergence_outputs *out) {
    optk_ot_problem problems[3];
    problems_of(p, problems);
    optk_status s = OPTK_OK;
    for (int k = 0; k < 3 && s == OPTK_OK; ++k) /* the self problems are n x n and m x m */
        s = optk_ot_check_sizes(ctx, op, &problems[k]);
    if (s == OPTK_OK) s = optk_ot_check_options(ctx, op, o);
    if (s != OPTK_OK) return s;
    if (p->cost == OPTK_COST_DENSE) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: needs point clouds (a dense cost gives neither C(x, x) nor C(y, y))",
                         op);
    }
    if (o->rho > 0.0 && isfinite(o->rho)) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED,
                         "%s: balanced problems only (rho 0), got rho %g: the unbalanced "
                         "divergence has further terms",
                         op, o->rho);
    }
    if (o->warm_start) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: warm_start: there are no potentials to start the three solves from",
                         op);
    }
    if (!out->divergence && !out->linear && !out->converged) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: every output is NULL", op);
    }
    const uintptr_t B = (uintptr_t)p->batch, n = (uintptr_t)p->n, m = (uintptr_t)p->m;
    const uintptr_t d = (uintptr_t)p->dim;
    const optk_ot_span spans[] = {
        {"a", (uintptr_t)p->a, B * n * 4, false, true},
        {"b", (uintptr_t)p->b, B * m * 4, false, true},
        {"x", (uintptr_t)p->x, B * n * d * 4, false, true},
        {"y", (uintptr_t)p->y, B * m * d * 4, false, true},
        {"divergence", (uintptr_t)out->divergence, B * 4, true, false},
        {"linear", (uintptr_t)out->linear, B * 4, true, false},
        {"converged", (uintptr_t)out->converged, B * 4, true, false},
    };
    s = optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
    if (s == OPTK_OK && !ctx->ops->sinkhorn) {
        s = optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: not available on the %s backend", op,
                      ctx->ops->name);
    }
    if (s == OPTK_OK) s = optk_ot_check_weights(ctx, op, "a", p->a, p->batch, p->n);
    if (s == OPTK_OK) s = optk_ot_check_weights(ctx, op, "b", p->b, p->batch, p->m);
    return s;
}

/* Carves the three solves' buffers out of one allocation of solves_bytes. */
static size_t solves_bytes(int64_t batch, int64_t n, int64_t m) {
    return (size_t)(3 * batch * (n + m) + 9 * batch) * 4;
}

static solves solves_at(void *base, int64_t batch, int64_t n, int64_t m) {
    float *at = base;
    solves w;
    const int64_t rows[3] = {n, n, m}, cols[3] = {m, n, m}; /* ab, aa, bb */
    for (int k = 0; k < 3; ++k) {
        w.f[k] = at, at += batch * rows[k];
        w.g[k] = at, at += batch * cols[k];
    }
    w.objective = at, at += 3 * batch;
    w.cost = at, at += 3 * batch;
    w.converged = (int32_t *)(void *)at;
    return w;
}

/* Downloads the three solves' results and writes the combinations. */
static optk_status combine(optk_context *ctx, const char *op, int64_t batch, const solves *w,
                           const optk_divergence_outputs *out) {
    const size_t bytes = (size_t)(3 * batch) * 4;
    float *objective = malloc(bytes), *cost = malloc(bytes);
    int32_t *converged = malloc(bytes);
    float *divergence = malloc(bytes / 3), *linear = malloc(bytes / 3);
    int32_t *all = malloc(bytes / 3);
    optk_status s = objective && cost && converged && divergence && linear && all
                        ? OPTK_OK
                        : optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (s == OPTK_OK) s = optk_mem_download(ctx, objective, w->objective, bytes);
    if (s == OPTK_OK) s = optk_mem_download(ctx, cost, w->cost, bytes);
    if (s == OPTK_OK) s = optk_mem_download(ctx, converged, w->converged, bytes);
    for (int64_t p = 0; p < batch && s == OPTK_OK; ++p) {
        const int64_t ab = p, aa = batch + p, bb = 2 * batch + p;
        divergence[p] =
            (float)((double)objective[ab] - 0.5 * ((double)objective[aa] + (double)objective[bb]));
        linear[p] = (float)((double)cost[ab] - 0.5 * ((double)cost[aa] + (double)cost[bb]));
        all[p] = converged[ab] && converged[aa] && converged[bb];
    }
    if (s == OPTK_OK && out->divergence)
        s = optk_mem_upload(ctx, out->divergence, divergence, bytes / 3);
    if (s == OPTK_OK && out->linear) s = optk_mem_upload(ctx, out->linear, linear, bytes / 3);
    if (s == OPTK_OK && out->converged) s = optk_mem_upload(ctx, out->converged, all, bytes / 3);
    free(objective), free(cost), free(converged), free(divergence), free(linear), free(all);
    return s;
}

optk_status optk_sinkhorn_divergence(optk_context *ctx, const optk_ot_problem *p,
                                     const optk_sinkhorn_options *o,
                                     const optk_divergence_outputs *out) {
    static const char op[] = "sinkhorn_divergence";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!p || !o || !out) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !p ? "problem" : (!o ? "options" : "outputs"));
    }
    optk_status s = check_call(ctx, op, p, o, out);
    if (s != OPTK_OK) return s;
    void *space = NULL;
    s = optk_mem_alloc(ctx, solves_bytes(p->batch, p->n, p->m), &space);
    if (s != OPTK_OK) return s;
    const solves w = solves_at(space, p->batch, p->n, p->m);
    const int64_t B = p->batch;
    optk_ot_problem problems[3];
    problems_of(p, problems);
    for (int k = 0; k < 3 && s == OPTK_OK; ++k) {
        const optk_sinkhorn_outputs solve_out = {.f = w.f[k],
                                                 .g = w.g[k],
                                                 .converged = w.converged + k * B,
                                                 .cost = w.cost + k * B,
                                                 .objective = w.objective + k * B};
        s = optk_sinkhorn_checked(ctx, &problems[k], o, &solve_out, k > 0); /* checked above */
    }
    if (s == OPTK_OK) s = combine(ctx, op, B, &w, out);
    optk_mem_free(ctx, space);
    return s;
}
