/* sinkhorn_newton.c — the CPU side of the Newton phase of Sinkhorn-Newton-Sparse
 * (common/sinkhorn_newton.h): the problems split over the cores, each run whole by one thread
 * with every sum in the order the header fixes (a CUDA warp's lanes emulated by 32 partials),
 * so the CPU and CUDA give the same bits. */
#include "cpu_backend.h"
#include "lane_sum.h"
#include "parallel.h"
#include "sns_threshold.h"

#include "common/sinkhorn_newton.h"

#include <stdlib.h>

/* One problem of the job and its workspace. */
typedef struct problem {
    int64_t n, m, len;
    double eps;
    const float *a, *b;
    optk_sns_space w;
    double *scratch; /* 3 (n + m): the CPU's own (terms of a sum; a row's heap, sorted, held) */
} problem;

static float weight_at(const problem *q, int64_t k) {
    return k < q->n ? q->a[k] : q->b[k - q->n];
}

static double dot(const problem *q, const double *x, const double *y) {
    return lane_dot(x, y, q->len);
}

/* The plan at x, its marginals, and L(x) (returned) with the plan's mass. */
OPTK_CPU_HOT_LOOP static double plan_and_dual(const problem *q, double *mass_out) {
    const int64_t n = q->n, m = q->m;
    const optk_sns_space *w = &q->w;
    const double *f = w->x, *g = w->x + n;
    double *r = w->marginal, *col = w->marginal + n, *terms = q->scratch;
    for (int64_t i = 0; i < n; ++i) {
        double *row = w->plan + i * m;
        const float *c = w->cost + i * m;
        for (int64_t j = 0; j < m; ++j)
            row[j] = optk_sns_entry(q->a[i], q->b[j], f[i], g[j], c[j], q->eps);
        r[i] = lane_sum(row, m);
    }
    for (int64_t j = 0; j < m; ++j)
        col[j] = 0.0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j)
            col[j] += w->plan[i * m + j];
    for (int64_t k = 0; k < q->len; ++k)
        terms[k] = optk_sns_linear_term(weight_at(q, k), w->x[k]);
    const double mass = lane_sum(r, n);
    if (mass_out) *mass_out = mass;
    return lane_sum(terms, q->len) - q->eps * mass;
}

static double marginal_error(const problem *q) {
    for (int64_t k = 0; k < q->len; ++k)
        q->scratch[k] = optk_sns_error_term(q->w.marginal[k], weight_at(q, k));
    return lane_sum(q->scratch, q->len);
}

/* Row i's threshold (sns_threshold.h: CUDA's bisection, found in fewer tests). */
static double row_threshold(const problem *q, int64_t i, int64_t keep) {
    return optk_cpu_sns_threshold(q->w.plan + i * q->m, q->m, q->w.marginal[i], keep, q->scratch);
}

/* Row i's kept entries as a byte per column (branch-free: it vectorises). */
OPTK_CPU_HOT_LOOP static void keep_mask(const double *restrict row, double threshold,
                                        const double *restrict column_max, int64_t m,
                                        uint8_t *restrict mask) {
    for (int64_t j = 0; j < m; ++j)
        mask[j] = optk_sns_keep(row[j], threshold, column_max[j]);
}

/* The sparsified plan block as kept columns per row (each row's mask, then its kept columns in
 * order) and kept rows per column (a counting sort of the rows' lists: O(kept entries), and
 * each column's rows come out in row order, as CUDA's thread per column lists them). */
static void sparsify(const problem *q) {
    const int64_t n = q->n, m = q->m, keep = optk_sns_row_keep(n, m);
    const optk_sns_space *w = &q->w;
    for (int64_t j = 0; j < m; ++j)
        w->column_max[j] = w->plan[j];
    for (int64_t i = 1; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            const double v = w->plan[i * m + j];
            w->column_max[j] = v > w->column_max[j] ? v : w->column_max[j];
        }
    for (int64_t i = 0; i < n; ++i)
        w->threshold[i] = row_threshold(q, i, keep);
    /* Scratch (the threshold search is done with it): m column cursors, then the mask. */
    int32_t *cursor = (int32_t *)(void *)q->scratch;
    uint8_t *mask = (uint8_t *)(void *)(q->scratch + m);
    for (int64_t j = 0; j < m; ++j)
        cursor[j] = 0;
    int32_t count = 0;
    for (int64_t i = 0; i < n; ++i) {
        w->row_start[i] = count;
        keep_mask(w->plan + i * m, w->threshold[i], w->column_max, m, mask);
        for (int64_t j = 0; j < m; ++j)
            if (mask[j]) w->row_cols[count++] = (int32_t)j, ++cursor[j];
    }
    w->row_start[n] = count;
    w->col_start[0] = 0;
    for (int64_t j = 0; j < m; ++j) { /* counts -> starts; the cursors start there */
        w->col_start[j + 1] = w->col_start[j] + cursor[j];
        cursor[j] = w->col_start[j];
    }
    for (int64_t i = 0; i < n; ++i)
        for (int32_t e = w->row_start[i]; e < w->row_start[i + 1]; ++e)
            w->col_rows[cursor[w->row_cols[e]]++] = (int32_t)i;
}

/* y = (H + delta I) x, H = (1/eps) [[diag(r), S], [S^T, diag(c)]], S the kept entries. */
OPTK_CPU_HOT_LOOP static void hessian_times(const problem *q, double delta, const double *x,
                                            double *y) {
    const int64_t n = q->n, m = q->m;
    const optk_sns_space *w = &q->w;
    for (int64_t k = 0; k < q->len; ++k)
        y[k] = optk_sns_hessian_diagonal(w->marginal[k], x[k], delta, q->eps);
    for (int64_t i = 0; i < n; ++i)
        for (int32_t e = w->row_start[i]; e < w->row_start[i + 1]; ++e) {
            const int64_t j = w->row_cols[e];
            y[i] += optk_sns_hessian_term(w->plan[i * m + j], x[n + j], q->eps);
        }
    for (int64_t j = 0; j < m; ++j)
        for (int32_t e = w->col_start[j]; e < w->col_start[j + 1]; ++e) {
            const int64_t i = w->col_rows[e];
            y[n + j] += optk_sns_hessian_term(w->plan[i * m + j], x[i], q->eps);
        }
}

/* Conjugate gradients for (H + delta I) d = grad from d = 0. */
OPTK_CPU_HOT_LOOP static void conjugate_gradients(const problem *q) {
    const optk_sns_space *w = &q->w;
    double max_r = 0.0;
    for (int64_t i = 0; i < q->n; ++i)
        max_r = w->marginal[i] > max_r ? w->marginal[i] : max_r;
    const double delta = optk_sns_damping(max_r, q->eps);
    for (int64_t k = 0; k < q->len; ++k)
        w->d[k] = 0.0, w->res[k] = w->grad[k], w->dir[k] = w->grad[k];
    double rr = dot(q, w->res, w->res);
    const double stop = optk_sns_cg_stop(rr);
    for (int it = 0; it < OPTK_SNS_CG_ITERATIONS && rr > stop; ++it) {
        hessian_times(q, delta, w->dir, w->hd);
        const double curvature = dot(q, w->dir, w->hd);
        if (!(curvature > 0.0)) break;
        const double alpha = rr / curvature;
        for (int64_t k = 0; k < q->len; ++k)
            w->d[k] += alpha * w->dir[k], w->res[k] -= alpha * w->hd[k];
        const double next = dot(q, w->res, w->res), beta = next / rr;
        for (int64_t k = 0; k < q->len; ++k)
            w->dir[k] = w->res[k] + beta * w->dir[k];
        rr = next;
    }
}

/* One plain Sinkhorn iteration in double: g (each column's rows in index order), then f. */
OPTK_CPU_HOT_LOOP static void sinkhorn_step(const problem *q) {
    const int64_t n = q->n, m = q->m;
    const float *c = q->w.cost;
    double *f = q->w.x, *g = q->w.x + n;
    for (int64_t j = 0; j < m; ++j) {
        if (!(q->b[j] > 0.0f)) continue;
        double top = -OPTK_INF_D, sum = 0.0;
        for (int64_t i = 0; i < n; ++i)
            if (q->a[i] > 0.0f) top = fmax(top, f[i] - (double)c[i * m + j]);
        for (int64_t i = 0; i < n; ++i)
            if (q->a[i] > 0.0f) sum += optk_sns_lse_term(f[i] - (double)c[i * m + j], top, q->eps);
        g[j] = optk_sns_potential(q->b[j], top, sum, q->eps);
    }
    for (int64_t i = 0; i < n; ++i) {
        if (!(q->a[i] > 0.0f)) continue;
        double top = -OPTK_INF_D;
        for (int64_t j = 0; j < m; ++j)
            if (q->b[j] > 0.0f) top = fmax(top, g[j] - (double)c[i * m + j]);
        lanes l = lanes_empty();
        for (int64_t j = 0; j < m; ++j)
            if (q->b[j] > 0.0f)
                lanes_add(&l, j, optk_sns_lse_term(g[j] - (double)c[i * m + j], top, q->eps));
        f[i] = optk_sns_potential(q->a[i], top, lanes_total(&l), q->eps);
    }
}

/* Newton steps until the error is <= tol or `budget` iterations (a Newton step or a Sinkhorn
 * iteration each); returns the iterations, leaves the plan at the final x, its error in *error
 * and its mass in *mass. */
static int newton(const problem *q, double tol, int budget, double *error, double *mass) {
    const optk_sns_space *w = &q->w;
    double dual = plan_and_dual(q, mass);
    double err = marginal_error(q);
    int steps = 0, fallback = 1;
    while (steps < budget && err > tol) {
        for (int64_t k = 0; k < q->len; ++k)
            w->grad[k] = optk_sns_gradient(weight_at(q, k), w->marginal[k]);
        sparsify(q);
        conjugate_gradients(q);
        const double slope = dot(q, w->grad, w->d);
        for (int64_t k = 0; k < q->len; ++k)
            w->trial[k] = w->x[k];
        double max_d = 0.0;
        for (int64_t k = 0; k < q->len; ++k)
            max_d = fabs(w->d[k]) > max_d ? fabs(w->d[k]) : max_d;
        const double t0 = optk_sns_first_step(max_d, q->eps);
        bool accepted = false;
        for (double t = t0; t > OPTK_SNS_MIN_STEP * t0 && slope > 0.0 && !accepted; t *= 0.5) {
            for (int64_t k = 0; k < q->len; ++k)
                w->x[k] = w->trial[k] + t * w->d[k];
            const double next = plan_and_dual(q, mass);
            accepted = isfinite(next) && next >= dual + OPTK_SNS_ARMIJO * t * slope;
            if (accepted) dual = next;
        }
        if (accepted) {
            steps += 1, fallback = 1;
        } else { /* back to where the step started, then a burst of Sinkhorn iterations */
            for (int64_t k = 0; k < q->len; ++k)
                w->x[k] = w->trial[k];
            const int burst = optk_sns_burst(fallback, budget - steps);
            for (int k = 0; k < burst; ++k)
                sinkhorn_step(q);
            steps += burst, fallback = optk_sns_next_fallback(fallback);
            dual = plan_and_dual(q, mass);
        }
        err = marginal_error(q);
    }
    *error = err;
    return steps;
}

/* The Newton phase of problem p and its outputs. */
static void solve_problem(const optk_sinkhorn_job *job, const void *warm, int64_t p, char *space) {
    const optk_ot_view *v = &job->view;
    const int64_t n = v->n, m = v->m, B = job->batch;
    problem q = {n,
                 m,
                 n + m,
                 (double)(float)job->epsilon,
                 v->a + p * n,
                 v->b + p * m,
                 optk_sns_space_at(space, n, m),
                 (double *)(void *)(space + optk_sns_space_bytes(n, m))};
    const optk_sns_space *w = &q.w;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j)
            w->cost[i * m + j] = optk_ot_cost_at(v, p, i, j);
    for (int64_t i = 0; i < n; ++i)
        w->x[i] = job->out.f[p * n + i];
    for (int64_t j = 0; j < m; ++j)
        w->x[n + j] = job->out.g[p * m + j];
    const int32_t *warm_iterations = (const int32_t *)warm,
                  *warm_converged = warm_iterations + 2 * B;
    const int32_t done = warm_iterations[p];
    const int budget = !warm_converged[p] && job->max_iter > done ? job->max_iter - done : 0;
    double error = 0.0, mass = 0.0;
    const int steps = newton(&q, job->tol, budget, &error, &mass);
    /* The outputs at the final x, as floats; the sums per row, then over the rows. */
    const optk_sinkhorn_outputs *o = &job->out;
    lanes cost = lanes_empty(), fg = lanes_empty();
    for (int64_t i = 0; i < n; ++i) {
        lanes row_cost = lanes_empty(), row_fg = lanes_empty();
        for (int64_t j = 0; j < m; ++j) {
            const double pij = w->plan[i * m + j];
            if (o->plan) o->plan[(p * n + i) * m + j] = (float)pij;
            lanes_add(&row_cost, j, optk_sns_cost_term(pij, w->cost[i * m + j]));
            lanes_add(&row_fg, j, optk_sns_fg_term(pij, w->x[i], w->x[n + j]));
        }
        lanes_add(&cost, i, lanes_total(&row_cost));
        lanes_add(&fg, i, lanes_total(&row_fg));
    }
    for (int64_t i = 0; i < n; ++i)
        o->f[p * n + i] = q.a[i] > 0.0f ? (float)w->x[i] : -OPTK_INF_F;
    for (int64_t j = 0; j < m; ++j)
        o->g[p * m + j] = q.b[j] > 0.0f ? (float)w->x[n + j] : -OPTK_INF_F;
    if (o->iterations) o->iterations[p] = done + steps;
    if (o->error) o->error[p] = (float)error;
    if (o->converged) o->converged[p] = error <= job->tol;
    if (o->cost) o->cost[p] = (float)lanes_total(&cost);
    if (o->objective) o->objective[p] = (float)(lanes_total(&fg) - q.eps * mass);
}

typedef struct newton_args {
    const optk_sinkhorn_job *job;
    const void *warm;
    char *space; /* one problem's workspace per worker */
    size_t stride;
} newton_args;

static int newton_problems(void *arg, int64_t begin, int64_t end, int worker) {
    const newton_args *args = arg;
    for (int64_t p = begin; p < end; ++p)
        solve_problem(args->job, args->warm, p, args->space + (size_t)worker * args->stride);
    return 0;
}

optk_status optk_cpu_sinkhorn_newton(optk_context *ctx, const optk_sinkhorn_job *job,
                                     const void *warm) {
    const int workers = optk_cpu_workers(job->batch);
    const int64_t n = job->view.n, m = job->view.m;
    newton_args args = {job, warm, NULL, optk_sns_space_bytes(n, m) + 3 * (size_t)(n + m) * 8};
    args.space = malloc((size_t)workers * args.stride);
    if (!args.space) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory");
    const int failed = optk_cpu_parallel(job->batch, workers, newton_problems, &args);
    free(args.space);
    return failed ? optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory")
                  : OPTK_OK;
}
