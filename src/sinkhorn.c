/* sinkhorn.c — batched Sinkhorn: default options, every argument check (sizes and buffers
 * through ot_check.h, options, then the weights' values on the backend), and the validated
 * job handed to the backend. */
#include "internal.h"
#include "ot_check.h"

#include <math.h>

optk_sinkhorn_options optk_sinkhorn_default_options(double epsilon) {
    optk_sinkhorn_options o;
    memset(&o, 0, sizeof o);
    o.epsilon = epsilon;
    o.max_iter = 1000;
    o.tol = 1e-5;
    o.check_every = 10;
    o.epsilon_decay = 0.5;
    return o;
}

optk_status optk_ot_check_options(optk_context *ctx, const char *op,
                                  const optk_sinkhorn_options *o) {
    optk_status s = optk_ot_check_epsilon(ctx, op, o->epsilon);
    if (s != OPTK_OK) return s;
    if (o->max_iter < 1 || o->check_every < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: max_iter and check_every must be >= 1, got %d and %d", op,
                         o->max_iter, o->check_every);
    }
    if (!(isfinite(o->tol) && o->tol >= 0.0)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: tol must be finite and >= 0, got %g",
                         op, o->tol);
    }
    if (o->epsilon_start != 0.0) {
        if (!(isfinite(o->epsilon_start) && o->epsilon_start > o->epsilon &&
              (float)o->epsilon_start <= 3.0e38f)) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: epsilon_start must be 0 or finite and > epsilon (%g), got %g", op,
                             o->epsilon, o->epsilon_start);
        }
        if (!(o->epsilon_decay > 0.0 && o->epsilon_decay < 1.0)) {
            return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                             "%s: epsilon_decay must be in (0, 1), got %g", op, o->epsilon_decay);
        }
    }
    if (o->solver != OPTK_SINKHORN_PLAIN && o->solver != OPTK_SINKHORN_SNS &&
        o->solver != OPTK_SINKHORN_LOG_DOMAIN && !optk_sinkhorn_solver_symmetric(o->solver)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown solver %d", op,
                         (int)o->solver);
    }
    if (o->placement != OPTK_SINKHORN_PLACE_AUTO && o->placement != OPTK_SINKHORN_PLACE_ONE_BLOCK &&
        o->placement != OPTK_SINKHORN_PLACE_STREAMING) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown placement %d", op,
                         (int)o->placement);
    }
    if (o->solver == OPTK_SINKHORN_SNS &&
        ((o->rho > 0.0 && isfinite(o->rho)) || o->sns_warmup < 0)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: Sinkhorn-Newton-Sparse solves balanced problems (rho 0) with "
                         "sns_warmup >= 0",
                         op);
    }
    if (!(o->rho >= 0.0)) { /* +Inf allowed: balanced */
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: rho must be >= 0, got %g", op,
                         o->rho);
    }
    return OPTK_OK;
}

/* Every buffer of a solve (see check_spans). */
static optk_status check_buffers(optk_context *ctx, const char *op, const optk_ot_problem *p,
                                 const optk_sinkhorn_outputs *out) {
    const bool dense = p->cost == OPTK_COST_DENSE;
    const uintptr_t B = (uintptr_t)p->batch, n = (uintptr_t)p->n, m = (uintptr_t)p->m;
    const uintptr_t d = dense ? 0 : (uintptr_t)p->dim;
    const optk_ot_span spans[] = {
        {"a", (uintptr_t)p->a, B * n * 4, false, true},
        {"b", (uintptr_t)p->b, B * m * 4, false, true},
        {"c", dense ? (uintptr_t)p->c : 0, B * n * m * 4, false, dense},
        {"x", dense ? 0 : (uintptr_t)p->x, B * n * d * 4, false, !dense},
        {"y", dense ? 0 : (uintptr_t)p->y, B * m * d * 4, false, !dense},
        {"f", (uintptr_t)out->f, B * n * 4, true, true},
        {"g", (uintptr_t)out->g, B * m * 4, true, true},
        {"iterations", (uintptr_t)out->iterations, B * 4, true, false},
        {"error", (uintptr_t)out->error, B * 4, true, false},
        {"converged", (uintptr_t)out->converged, B * 4, true, false},
        {"cost", (uintptr_t)out->cost, B * 4, true, false},
        {"objective", (uintptr_t)out->objective, B * 4, true, false},
        {"plan", (uintptr_t)out->plan, B * n * m * 4, true, false},
    };
    return optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
}

optk_status optk_ot_check_weights(optk_context *ctx, const char *op, const char *name,
                                  const float *w, int64_t rows, int64_t cols) {
    int64_t bad = -1;
    int why = 0;
    optk_status s = ctx->ops->ot_weights_check(ctx, w, rows, cols, &bad, &why);
    if (s != OPTK_OK || bad < 0) return s;
    return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                     why ? "%s: %s of problem %lld sums to 0"
                         : "%s: %s of problem %lld has a negative or non-finite weight",
                     op, name, (long long)bad);
}

optk_status optk_sinkhorn(optk_context *ctx, const optk_ot_problem *p,
                          const optk_sinkhorn_options *o, const optk_sinkhorn_outputs *out) {
    static const char op[] = "sinkhorn";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!p || !o || !out) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op,
                         !p ? "problem" : (!o ? "options" : "outputs"));
    }
    optk_status s = optk_ot_check_sizes(ctx, op, p);
    if (s == OPTK_OK) s = optk_ot_check_options(ctx, op, o);
    if (s == OPTK_OK && optk_sinkhorn_solver_symmetric(o->solver) &&
        !(p->cost != OPTK_COST_DENSE && p->x == p->y && p->a == p->b && p->n == p->m)) {
        s = optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                      "%s: the symmetric solver takes a self problem only: point clouds with y "
                      "the same pointer as x and b as a",
                      op);
    }
    if (s == OPTK_OK) s = check_buffers(ctx, op, p, out);
    if (s == OPTK_OK) s = optk_ot_check_backend(ctx, op, ctx->ops->sinkhorn != NULL);
    if (s == OPTK_OK) s = optk_ot_check_weights(ctx, op, "a", p->a, p->batch, p->n);
    if (s == OPTK_OK) s = optk_ot_check_weights(ctx, op, "b", p->b, p->batch, p->m);
    return s == OPTK_OK ? optk_sinkhorn_checked(ctx, p, o, out) : s;
}

optk_status optk_sinkhorn_checked(optk_context *ctx, const optk_ot_problem *p,
                                  const optk_sinkhorn_options *o,
                                  const optk_sinkhorn_outputs *out) {
    optk_sinkhorn_job job;
    memset(&job, 0, sizeof job);
    const bool dense = p->cost == OPTK_COST_DENSE;
    job.view.n = p->n;
    job.view.m = p->m;
    job.view.dim = dense ? 0 : p->dim;
    job.view.cost = (int)p->cost;
    job.view.a = p->a;
    job.view.b = p->b;
    job.view.c = dense ? p->c : NULL;
    job.view.x = dense ? NULL : p->x;
    job.view.y = dense ? NULL : p->y;
    job.batch = p->batch;
    job.epsilon = o->epsilon;
    job.epsilon_start = o->epsilon_start;
    job.epsilon_decay = o->epsilon_decay;
    job.tol = o->tol;
    job.rho = o->rho;
    job.max_iter = o->max_iter;
    job.check_every = o->check_every;
    job.warm_start = o->warm_start;
    job.log_domain_only =
        o->solver == OPTK_SINKHORN_LOG_DOMAIN || o->solver == OPTK_SINKHORN_SYMMETRIC_LOG_DOMAIN;
    job.placement = o->placement;
    job.symmetric = optk_sinkhorn_solver_symmetric(o->solver);
    job.out = *out;
    if (o->solver == OPTK_SINKHORN_SNS) {
        return optk_sns_solve(ctx, &job, o->sns_warmup > 0 ? o->sns_warmup : 20);
    }
    return ctx->ops->sinkhorn(ctx, &job);
}

optk_status optk_sinkhorn_apply(optk_context *ctx, const optk_ot_problem *p, double epsilon,
                                const float *f, const float *g, bool transpose, const float *v,
                                int64_t k, float *out) {
    static const char op[] = "sinkhorn_apply";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = optk_ot_check_problem(ctx, op, p);
    if (s == OPTK_OK) s = optk_ot_check_epsilon(ctx, op, epsilon);
    if (s != OPTK_OK) return s;
    if (k < 1 || (double)p->batch * (double)(p->n > p->m ? p->n : p->m) * (double)k > 0x1p58) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: k must be >= 1 (and not huge), got %lld", op, (long long)k);
    }
    const bool dense = p->cost == OPTK_COST_DENSE;
    const uintptr_t B = (uintptr_t)p->batch, n = (uintptr_t)p->n, m = (uintptr_t)p->m;
    const uintptr_t d = dense ? 0 : (uintptr_t)p->dim, kk = (uintptr_t)k;
    const optk_ot_span spans[] = {
        /* out first: "out overlaps v" */
        {"out", (uintptr_t)out, B * (transpose ? m : n) * kk * 4, true, true},
        {"c", dense ? (uintptr_t)p->c : 0, B * n * m * 4, false, dense},
        {"x", dense ? 0 : (uintptr_t)p->x, B * n * d * 4, false, !dense},
        {"y", dense ? 0 : (uintptr_t)p->y, B * m * d * 4, false, !dense},
        {"f", (uintptr_t)f, B * n * 4, false, true},
        {"g", (uintptr_t)g, B * m * 4, false, true},
        {"v", (uintptr_t)v, B * (transpose ? n : m) * kk * 4, false, true},
    };
    s = optk_ot_check_spans(ctx, op, spans, (int)(sizeof spans / sizeof spans[0]));
    if (s != OPTK_OK) return s;
    if ((s = optk_ot_check_backend(ctx, op, ctx->ops->plan_apply != NULL)) != OPTK_OK) return s;
    const optk_ot_view view = optk_ot_cost_view(p);
    return ctx->ops->plan_apply(ctx, &view, p->batch, (float)epsilon, f, g, transpose, v, k, out);
}
