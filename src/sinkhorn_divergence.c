/* sinkhorn_divergence.c — the debiased Sinkhorn divergence of two point clouds, from three
 * batched solves (x against y, x against x, y against y) on the backend, combined on the host
 * in double: OT(a, b) - (OT(a, a) + OT(b, b)) / 2 for the entropic objective and for <P, C>,
 * its gradient in the points from the backend's plan-weighted cost gradients, and in the
 * weights from the backend's c-transforms of the solved potentials.
 * The self problems take the symmetric update (common/sinkhorn.h), as GeomLoss and OTT do:
 * alternating updates converge slowly there, where the plan is nearly diagonal. KL-relaxed
 * marginals (rho > 0) give Séjourné et al.'s divergence, through divergence_unbalanced.h.
 * The call's arguments are checked once (the self problems reuse its weights and points);
 * nothing is written to the caller's outputs until all three solves have succeeded. */
#include "common/sinkhorn.h" /* optk_sinkhorn_tau */
#include "divergence_unbalanced.h"
#include "internal.h"
#include "ot_check.h"

#include <math.h>
#include <stdlib.h>

/* The three solves' per-problem results, in one backend allocation. */
typedef struct solves {
    float *f[3], *g[3];
    float *objective, *cost; /* 3 x batch each: ab, aa, bb */
    int32_t *converged;      /* 3 x batch */
    /* The plan-weighted cost gradients the point gradients combine (when asked for):
     * x's under x against y and under x against x, y's under x against y and y against y. */
    float *grad_ab_x, *grad_aa_x, *grad_ab_y, *grad_bb_y;
    /* The c-transforms the weights' gradients combine (when asked for): at x from y's
     * potential under x against y and from x's under x against x; at y likewise. */
    float *f_ab_x, *f_aa_x, *f_ab_y, *f_bb_y;
    /* KL-relaxed marginals: the weights the solves take (divergence_unbalanced.h). */
    float *a_solved, *b_solved;
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
    if (o->warm_start) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: warm_start: there are no potentials to start the three solves from",
                         op);
    }
    if (optk_sinkhorn_solver_symmetric(o->solver)) {
        return optk_fail(
            ctx, OPTK_ERR_INVALID_ARGUMENT,
            "%s: solver %d is for self problems; x against y takes OPTK_SINKHORN_PLAIN, "
            "_LOG_DOMAIN or _SNS (the self problems take the symmetric update anyway)",
            op, (int)o->solver);
    }
    if (!out->divergence && !out->linear && !out->converged && !out->grad_x && !out->grad_y &&
        !out->grad_a && !out->grad_b) {
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
        {"grad_x", (uintptr_t)out->grad_x, B * n * d * 4, true, false},
        {"grad_y", (uintptr_t)out->grad_y, B * m * d * 4, true, false},
        {"grad_a", (uintptr_t)out->grad_a, B * n * 4, true, false},
        {"grad_b", (uintptr_t)out->grad_b, B * m * 4, true, false},
    };
    s = optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
    if (s == OPTK_OK) s = optk_ot_check_backend(ctx, op, ctx->ops->sinkhorn != NULL);
    if (s == OPTK_OK) s = optk_ot_check_weights(ctx, op, "a", p->a, p->batch, p->n);
    if (s == OPTK_OK) s = optk_ot_check_weights(ctx, op, "b", p->b, p->batch, p->m);
    return s;
}

/* Carves the three solves' buffers (with grads the point gradients', with weight_grads the
 * c-transforms', unbalanced the solved weights) out of one allocation of solves_bytes. */
static size_t solves_bytes(const optk_ot_problem *p, bool grads, bool weight_grads,
                           bool unbalanced) {
    const int64_t B = p->batch, n = p->n, m = p->m;
    return (size_t)(3 * B * (n + m) + 9 * B + (grads ? 2 * B * (n + m) * p->dim : 0) +
                    (weight_grads ? 2 * B * (n + m) : 0) + (unbalanced ? B * (n + m) : 0)) *
           4;
}

static solves solves_at(void *base, const optk_ot_problem *p, bool grads, bool weight_grads,
                        bool unbalanced) {
    const int64_t batch = p->batch, n = p->n, m = p->m;
    float *at = base;
    solves w;
    const int64_t rows[3] = {n, n, m}, cols[3] = {m, n, m}; /* ab, aa, bb */
    for (int k = 0; k < 3; ++k) {
        w.f[k] = at, at += batch * rows[k];
        w.g[k] = at, at += batch * cols[k];
    }
    w.objective = at, at += 3 * batch;
    w.cost = at, at += 3 * batch;
    w.converged = (int32_t *)(void *)at, at += 3 * batch;
    w.grad_ab_x = w.grad_aa_x = w.grad_ab_y = w.grad_bb_y = NULL;
    if (grads) {
        w.grad_ab_x = at, at += batch * n * p->dim;
        w.grad_aa_x = at, at += batch * n * p->dim;
        w.grad_ab_y = at, at += batch * m * p->dim;
        w.grad_bb_y = at, at += batch * m * p->dim;
    }
    w.f_ab_x = w.f_aa_x = w.f_ab_y = w.f_bb_y = NULL;
    if (weight_grads) {
        w.f_ab_x = at, at += batch * n;
        w.f_aa_x = at, at += batch * n;
        w.f_ab_y = at, at += batch * m;
        w.f_bb_y = at, at += batch * m;
    }
    w.a_solved = w.b_solved = NULL;
    if (unbalanced) {
        w.a_solved = at, at += batch * n;
        w.b_solved = at;
    }
    return w;
}

/* Downloads the three solves' results and writes the combinations; `unbalanced` (host, batch
 * values, or NULL) replaces the objectives' combination as the divergence. */
static optk_status combine(optk_context *ctx, const char *op, int64_t batch, const solves *w,
                           const float *unbalanced, const optk_divergence_outputs *out) {
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
        divergence[p] = unbalanced ? unbalanced[p]
                                   : (float)((double)objective[ab] -
                                             0.5 * ((double)objective[aa] + (double)objective[bb]));
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

/* The three problems' points as the backend's plan ops read them (no weights). */
static void views_of(const optk_ot_problem problems[3], optk_ot_view views[3]) {
    for (int k = 0; k < 3; ++k)
        views[k] = optk_ot_cost_view(&problems[k]);
}

/* The plan-weighted cost gradients of the points the outputs ask for, from the three solves'
 * potentials: the self problems' x side only (their plans are symmetric). */
static optk_status gradients(optk_context *ctx, const optk_ot_problem problems[3], float eps,
                             const solves *w, const optk_divergence_outputs *out) {
    optk_ot_view views[3];
    views_of(problems, views);
    const int64_t B = problems[0].batch;
    optk_status s = OPTK_OK;
    if (out->grad_x) {
        s = ctx->ops->plan_gradient(ctx, &views[0], B, eps, w->f[0], w->g[0], false, w->grad_ab_x);
        if (s == OPTK_OK)
            s = ctx->ops->plan_gradient(ctx, &views[1], B, eps, w->f[1], w->g[1], false,
                                        w->grad_aa_x);
    }
    if (s == OPTK_OK && out->grad_y) {
        s = ctx->ops->plan_gradient(ctx, &views[0], B, eps, w->f[0], w->g[0], true, w->grad_ab_y);
        if (s == OPTK_OK)
            s = ctx->ops->plan_gradient(ctx, &views[2], B, eps, w->f[2], w->g[2], false,
                                        w->grad_bb_y);
    }
    return s;
}

/* The c-transforms the weights' gradients the outputs ask for combine, from the three
 * solves' potentials (problems: with the weights solved): at x from y's potential under x
 * against y and from x's own under x against x (a self problem's f is its g); at y from x's
 * under x against y (the columns') and from y's own under y against y. */
static optk_status ctransforms(optk_context *ctx, const optk_ot_problem problems[3], float eps,
                               float tau, const solves *w, const optk_divergence_outputs *out) {
    optk_ot_view views[3];
    views_of(problems, views);
    const int64_t B = problems[0].batch;
    const float *a = problems[0].a, *b = problems[0].b;
    optk_status s = OPTK_OK;
    if (out->grad_a) {
        s = ctx->ops->ctransform(ctx, &views[0], B, eps, tau, w->g[0], b, false, w->f_ab_x);
        if (s == OPTK_OK)
            s = ctx->ops->ctransform(ctx, &views[1], B, eps, tau, w->f[1], a, false, w->f_aa_x);
    }
    if (s == OPTK_OK && out->grad_b) {
        s = ctx->ops->ctransform(ctx, &views[0], B, eps, tau, w->f[0], a, true, w->f_ab_y);
        if (s == OPTK_OK)
            s = ctx->ops->ctransform(ctx, &views[2], B, eps, tau, w->f[2], b, false, w->f_bb_y);
    }
    return s;
}

/* The debiasing: dst = cross - self (count floats, backend memory), on the host in double; with
 * rho > 0 finite, for the weights' gradients under KL-relaxed marginals, dst = (rho + eps)
 * (exp(-self / rho) - exp(-cross / rho)). */
static optk_status debias(optk_context *ctx, const char *op, const float *cross, const float *self,
                          float *dst, int64_t count, double rho, double eps) {
    const size_t bytes = (size_t)count * 4;
    float *x = malloc(bytes), *y = malloc(bytes);
    optk_status s =
        x && y ? OPTK_OK : optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (s == OPTK_OK) s = optk_mem_download(ctx, x, cross, bytes);
    if (s == OPTK_OK) s = optk_mem_download(ctx, y, self, bytes);
    const bool relaxed = rho > 0.0 && isfinite(rho);
    for (int64_t e = 0; e < count && s == OPTK_OK; ++e) {
        x[e] = relaxed
                   ? (float)((rho + eps) * (exp(-(double)y[e] / rho) - exp(-(double)x[e] / rho)))
                   : (float)((double)x[e] - (double)y[e]);
    }
    if (s == OPTK_OK) s = optk_mem_upload(ctx, dst, x, bytes);
    free(x), free(y);
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
    const bool grads = out->grad_x || out->grad_y, weight_grads = out->grad_a || out->grad_b;
    const bool unbalanced = o->rho > 0.0 && isfinite(o->rho);
    const float eps = (float)o->epsilon, tau = optk_sinkhorn_tau(o->rho, eps);
    void *space = NULL;
    s = optk_mem_alloc(ctx, solves_bytes(p, grads, weight_grads, unbalanced), &space);
    if (s != OPTK_OK) return s;
    const solves w = solves_at(space, p, grads, weight_grads, unbalanced);
    const int64_t B = p->batch;
    optk_ot_problem solved = *p; /* KL-relaxed: its weights to the power 1 / tau */
    if (unbalanced) {
        s = optk_unbalanced_weights(ctx, op, "a", p->a, B * p->n, tau, w.a_solved);
        if (s == OPTK_OK)
            s = optk_unbalanced_weights(ctx, op, "b", p->b, B * p->m, tau, w.b_solved);
        solved.a = w.a_solved, solved.b = w.b_solved;
    }
    optk_ot_problem problems[3];
    problems_of(&solved, problems);
    /* The self problems at the target epsilon from the start: the symmetric update is fastest
     * at small epsilon, where scaling would make it start from the slow end. */
    optk_sinkhorn_options self = *o;
    self.epsilon_start = 0.0;
    self.solver = o->solver == OPTK_SINKHORN_LOG_DOMAIN ? OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN
                                                        : OPTK_SINKHORN_SYMMETRIC;
    for (int k = 0; k < 3 && s == OPTK_OK; ++k) {
        const optk_sinkhorn_outputs solve_out = {.f = w.f[k],
                                                 .g = w.g[k],
                                                 .converged = w.converged + k * B,
                                                 .cost = w.cost + k * B,
                                                 .objective = w.objective + k * B};
        /* every argument checked above; self's solver makes problems 1 and 2 self problems */
        s = optk_sinkhorn_checked(ctx, &problems[k], k > 0 ? &self : o, &solve_out);
    }
    if (s == OPTK_OK && grads) s = gradients(ctx, problems, eps, &w, out);
    if (s == OPTK_OK && weight_grads) s = ctransforms(ctx, problems, eps, tau, &w, out);
    float *values = unbalanced ? malloc((size_t)B * sizeof(float)) : NULL;
    if (s == OPTK_OK && unbalanced && !values)
        s = optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    if (s == OPTK_OK && unbalanced) {
        const optk_divergence_potentials pot = {w.f[0], w.g[0], w.f[1], w.f[2]};
        s = optk_unbalanced_divergence(ctx, op, p, (double)eps, o->rho, &pot, values);
    }
    if (s == OPTK_OK) s = combine(ctx, op, B, &w, values, out);
    free(values);
    if (s == OPTK_OK && out->grad_x)
        s = debias(ctx, op, w.grad_ab_x, w.grad_aa_x, out->grad_x, B * p->n * p->dim, 0.0, 0.0);
    if (s == OPTK_OK && out->grad_y)
        s = debias(ctx, op, w.grad_ab_y, w.grad_bb_y, out->grad_y, B * p->m * p->dim, 0.0, 0.0);
    if (s == OPTK_OK && out->grad_a)
        s = debias(ctx, op, w.f_ab_x, w.f_aa_x, out->grad_a, B * p->n, o->rho, (double)eps);
    if (s == OPTK_OK && out->grad_b)
        s = debias(ctx, op, w.f_ab_y, w.f_bb_y, out->grad_b, B * p->m, o->rho, (double)eps);
    optk_mem_free(ctx, space);
    return s;
}
