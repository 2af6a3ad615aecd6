/* sinkhorn_sns.c — Sinkhorn-Newton-Sparse (Tang, Shavlovsky, Rahmanian, Tardini, Thekumparampil,
 * Xiao, Ying; ICLR 2024) for balanced problems: a Sinkhorn warm-up on the backend, then Newton
 * steps on the concave dual
 *   L(f, g) = <a, f> + <b, g> - eps sum_ij P_ij,   P_ij = exp((f_i + g_j - C_ij) / eps),
 * whose negative Hessian (1/eps) [[diag(P 1), P], [P^T, diag(P^T 1)]] has its plan block
 * sparsified to each row's largest entries that hold 99.9% of its mass (at least 2; about 2
 * once the plan has concentrated) and each column's largest, solved by conjugate gradients; a
 * backtracking (Armijo) line search on L; a plain Sinkhorn iteration wherever no step length
 * improves L enough.
 *
 * The Newton phase runs on the host in double for any backend (the problem is downloaded
 * once, the results uploaded once); a device version is future work. Its error is the L1
 * violation of both marginals (Newton steps leave neither exact).
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

/* One problem on the host, in double. */
typedef struct sns_problem {
    int64_t n, m;
    double eps;
    const double *a, *b, *c; /* c: n x m */
    double *f, *g;
    double *p;       /* n x m: the plan at (f, g) */
    double *r, *col; /* its marginals */
} sns_problem;

static double plan_and_dual(sns_problem *q) {
    double mass = 0.0, dual = 0.0;
    for (int64_t j = 0; j < q->m; ++j)
        q->col[j] = 0.0;
    for (int64_t i = 0; i < q->n; ++i) {
        double row = 0.0;
        for (int64_t j = 0; j < q->m; ++j) {
            const double v = q->a[i] > 0 && q->b[j] > 0
                                 ? exp((q->f[i] + q->g[j] - q->c[i * q->m + j]) / q->eps)
                                 : 0.0;
            q->p[i * q->m + j] = v;
            row += v;
            q->col[j] += v;
        }
        q->r[i] = row;
        mass += row;
    }
    for (int64_t i = 0; i < q->n; ++i)
        if (q->a[i] > 0) dual += q->a[i] * q->f[i];
    for (int64_t j = 0; j < q->m; ++j)
        if (q->b[j] > 0) dual += q->b[j] * q->g[j];
    return dual - q->eps * mass;
}

static double marginal_error(const sns_problem *q) {
    double e = 0.0;
    for (int64_t i = 0; i < q->n; ++i)
        e += fabs(q->r[i] - q->a[i]);
    for (int64_t j = 0; j < q->m; ++j)
        e += fabs(q->col[j] - q->b[j]);
    return e;
}

/* The sparsified plan block: each row's k largest entries and each column's largest. */
typedef struct sparse {
    int64_t count;
    int64_t *row, *colidx;
    double *value;
} sparse;

static int compare_desc(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return (a < b) - (a > b);
}

static void sparsify(const sns_problem *q, int k, sparse *s, double *scratch) {
    s->count = 0;
    for (int64_t i = 0; i < q->n; ++i) {
        /* The threshold: the smallest of the row's largest entries that hold 99.9% of its
         * mass, and at least k of them. */
        for (int64_t j = 0; j < q->m; ++j)
            scratch[j] = q->p[i * q->m + j];
        qsort(scratch, (size_t)q->m, sizeof *scratch, compare_desc);
        double held = 0.0, threshold = scratch[q->m - 1];
        for (int64_t t = 0; t < q->m; ++t) {
            held += scratch[t];
            if (t + 1 >= k && held >= 0.999 * q->r[i]) {
                threshold = scratch[t];
                break;
            }
        }
        for (int64_t j = 0; j < q->m; ++j) {
            const double v = q->p[i * q->m + j];
            bool keep = v >= threshold && v > 0.0;
            if (!keep) { /* or the column's largest */
                keep = v > 0.0;
                for (int64_t t = 0; t < q->n && keep; ++t)
                    keep = q->p[t * q->m + j] <= v;
            }
            if (keep) {
                s->row[s->count] = i, s->colidx[s->count] = j, s->value[s->count] = v;
                ++s->count;
            }
        }
    }
}

/* y = H x, H = (1/eps) [[diag(r), S], [S^T, diag(col)]] + delta I (delta: the null space). */
static void hessian_times(const sns_problem *q, const sparse *s, double delta, const double *x,
                          double *y) {
    const int64_t n = q->n;
    for (int64_t i = 0; i < n; ++i)
        y[i] = (q->r[i] * x[i]) / q->eps + delta * x[i];
    for (int64_t j = 0; j < q->m; ++j)
        y[n + j] = (q->col[j] * x[n + j]) / q->eps + delta * x[n + j];
    for (int64_t e = 0; e < s->count; ++e) {
        y[s->row[e]] += s->value[e] * x[n + s->colidx[e]] / q->eps;
        y[n + s->colidx[e]] += s->value[e] * x[s->row[e]] / q->eps;
    }
}

static double dot(const double *x, const double *y, int64_t len) {
    double d = 0.0;
    for (int64_t k = 0; k < len; ++k)
        d += x[k] * y[k];
    return d;
}

/* Conjugate gradients for H d = rhs, at most 200 iterations, to 1e-10 of |rhs|. */
static void conjugate_gradients(const sns_problem *q, const sparse *s, const double *rhs, double *d,
                                double *work) {
    const int64_t len = q->n + q->m;
    double *res = work, *dir = work + len, *hd = work + 2 * len;
    double max_r = 0.0;
    for (int64_t i = 0; i < q->n; ++i)
        max_r = fmax(max_r, q->r[i]);
    const double delta = 1e-10 * max_r / q->eps;
    for (int64_t k = 0; k < len; ++k)
        d[k] = 0.0, res[k] = rhs[k], dir[k] = rhs[k];
    double rr = dot(res, res, len);
    const double stop = 1e-20 * rr;
    for (int it = 0; it < 200 && rr > stop; ++it) {
        hessian_times(q, s, delta, dir, hd);
        const double curvature = dot(dir, hd, len);
        if (!(curvature > 0.0)) break;
        const double alpha = rr / curvature;
        for (int64_t k = 0; k < len; ++k)
            d[k] += alpha * dir[k], res[k] -= alpha * hd[k];
        const double next = dot(res, res, len);
        for (int64_t k = 0; k < len; ++k)
            dir[k] = res[k] + (next / rr) * dir[k];
        rr = next;
    }
}

/* One plain Sinkhorn iteration in double (g, then f). */
static void sinkhorn_step(sns_problem *q) {
    for (int64_t j = 0; j < q->m; ++j) {
        if (q->b[j] <= 0) continue;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t i = 0; i < q->n; ++i)
            if (q->a[i] > 0) mx = fmax(mx, q->f[i] - q->c[i * q->m + j]);
        for (int64_t i = 0; i < q->n; ++i)
            if (q->a[i] > 0) sum += exp((q->f[i] - q->c[i * q->m + j] - mx) / q->eps);
        q->g[j] = q->eps * log(q->b[j]) - mx - q->eps * log(fmax(sum, 1.0)); /* sum >= 1 */
    }
    for (int64_t i = 0; i < q->n; ++i) {
        if (q->a[i] <= 0) continue;
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < q->m; ++j)
            if (q->b[j] > 0) mx = fmax(mx, q->g[j] - q->c[i * q->m + j]);
        for (int64_t j = 0; j < q->m; ++j)
            if (q->b[j] > 0) sum += exp((q->g[j] - q->c[i * q->m + j] - mx) / q->eps);
        q->f[i] = q->eps * log(q->a[i]) - mx - q->eps * log(fmax(sum, 1.0)); /* sum >= 1 */
    }
}

/* Newton steps on problem q until its error is <= tol or `budget` steps; returns the steps. */
static int newton(sns_problem *q, double tol, int budget, double *error, double *work) {
    const int64_t n = q->n, m = q->m, len = n + m;
    const int k = (int)(2 * m / n > 2 ? 2 * m / n : 2);
    sparse s = {0, (int64_t *)(void *)work, (int64_t *)(void *)(work + n * m), work + 2 * n * m};
    double *grad = work + 3 * n * m, *d = grad + len, *trial = d + len, *cg = trial + len;
    double dual = plan_and_dual(q);
    *error = marginal_error(q);
    int steps = 0;
    for (; steps<budget && * error> tol; ++steps) {
        for (int64_t i = 0; i < n; ++i)
            grad[i] = q->a[i] > 0 ? q->a[i] - q->r[i] : 0.0;
        for (int64_t j = 0; j < m; ++j)
            grad[n + j] = q->b[j] > 0 ? q->b[j] - q->col[j] : 0.0;
        sparsify(q, k, &s, cg);
        conjugate_gradients(q, &s, grad, d, cg);
        const double slope = dot(grad, d, len);
        for (int64_t t = 0; t < len; ++t)
            trial[t] = t < n ? q->f[t] : q->g[t - n];
        bool accepted = false;
        for (double alpha = 1.0; alpha > 1e-4 && slope > 0.0 && !accepted; alpha *= 0.5) {
            for (int64_t i = 0; i < n; ++i)
                q->f[i] = trial[i] + alpha * d[i];
            for (int64_t j = 0; j < m; ++j)
                q->g[j] = trial[n + j] + alpha * d[n + j];
            const double next = plan_and_dual(q);
            accepted = isfinite(next) && next >= dual + 1e-4 * alpha * slope;
            if (accepted) dual = next;
        }
        if (!accepted) { /* back to where the step started, then one Sinkhorn iteration */
            for (int64_t i = 0; i < n; ++i)
                q->f[i] = trial[i];
            for (int64_t j = 0; j < m; ++j)
                q->g[j] = trial[n + j];
            sinkhorn_step(q);
            dual = plan_and_dual(q);
        }
        *error = marginal_error(q);
    }
    return steps;
}

/* Host copies of the problem's inputs: weights and the dense cost (points: computed). */
static optk_status download_problem(optk_context *ctx, const optk_sinkhorn_job *job, float *a,
                                    float *b, float *c) {
    const optk_ot_view *v = &job->view;
    const size_t B = (size_t)job->batch, n = (size_t)v->n, m = (size_t)v->m;
    optk_status s = ctx->ops->mem_download(ctx, a, v->a, B * n * 4);
    if (s == OPTK_OK) s = ctx->ops->mem_download(ctx, b, v->b, B * m * 4);
    if (s != OPTK_OK || v->cost == 0) {
        return s == OPTK_OK ? ctx->ops->mem_download(ctx, c, v->c, B * n * m * 4) : s;
    }
    const size_t d = (size_t)v->dim;
    float *xy = malloc(B * (n + m) * d * sizeof *xy);
    if (!xy) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory");
    s = ctx->ops->mem_download(ctx, xy, v->x, B * n * d * 4);
    if (s == OPTK_OK) s = ctx->ops->mem_download(ctx, xy + B * n * d, v->y, B * m * d * 4);
    optk_ot_view host = *v;
    host.x = xy, host.y = xy + B * n * d;
    for (int64_t p = 0; p < job->batch && s == OPTK_OK; ++p)
        for (int64_t i = 0; i < v->n; ++i)
            for (int64_t j = 0; j < v->m; ++j)
                c[((size_t)p * n + (size_t)i) * m + (size_t)j] = optk_ot_cost_at(&host, p, i, j);
    free(xy);
    return s;
}

optk_status optk_sns_solve(optk_context *ctx, const optk_sinkhorn_job *job, int warmup) {
    const int64_t B = job->batch, n = job->view.n, m = job->view.m;
    if ((double)n * (double)m > 0x1p27) {
        return optk_fail(
            ctx, OPTK_ERR_UNSUPPORTED,
            "sinkhorn: the host Newton phase of SNS takes n x m <= 2^27, got %lld x %lld",
            (long long)n, (long long)m);
    }
    /* Host memory: weights, costs, potentials, the per-problem statistics, and the Newton
     * workspace (the plan and its sparse copy, the marginals, CG vectors). */
    const size_t nm = (size_t)(n * m), len = (size_t)(n + m);
    float *a = malloc((size_t)(B * n) * 4), *b = malloc((size_t)(B * m) * 4);
    float *c = malloc((size_t)B * nm * 4), *f = malloc((size_t)(B * n) * 4);
    float *g = malloc((size_t)(B * m) * 4), *stats = malloc((size_t)B * 3 * 4);
    double *qd = malloc((nm + 4 * len + 6 * len) * sizeof(double) + 3 * nm * sizeof(double));
    double *work = malloc((3 * nm + 12 * len) * sizeof(double));
    void *dev = NULL;
    optk_status s = a && b && c && f && g && stats && qd && work
                        ? OPTK_OK
                        : optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory");
    /* The warm-up on the backend, its statistics into device scratch. */
    if (s == OPTK_OK) s = ctx->ops->mem_alloc(ctx, (size_t)B * 3 * 4, &dev);
    optk_sinkhorn_job warm = *job;
    warm.max_iter = warmup < job->max_iter ? warmup : job->max_iter;
    warm.out.iterations = (int32_t *)dev;
    warm.out.error = (float *)dev + B;
    warm.out.converged = (int32_t *)dev + 2 * B;
    warm.out.cost = warm.out.objective = warm.out.plan = NULL;
    if (s == OPTK_OK) s = ctx->ops->sinkhorn(ctx, &warm);
    if (s == OPTK_OK) s = ctx->ops->mem_download(ctx, stats, dev, (size_t)B * 3 * 4);
    if (s == OPTK_OK) s = ctx->ops->mem_download(ctx, f, job->out.f, (size_t)(B * n) * 4);
    if (s == OPTK_OK) s = ctx->ops->mem_download(ctx, g, job->out.g, (size_t)(B * m) * 4);
    if (s == OPTK_OK) s = download_problem(ctx, job, a, b, c);

    int32_t *iterations = (int32_t *)(void *)stats, *converged = iterations + 2 * B;
    float *error = (float *)stats + B, *cost = NULL, *objective = NULL;
    float *out_stats = malloc((size_t)B * 5 * 4),
          *plan = job->out.plan ? malloc((size_t)B * nm * 4) : NULL;
    if (s == OPTK_OK && (!out_stats || (job->out.plan && !plan))) {
        s = optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory");
    }
    if (out_stats) cost = out_stats, objective = out_stats + B;
    const double eps = (double)(float)job->epsilon;
    for (int64_t p = 0; p < B && s == OPTK_OK; ++p) {
        double *da = qd, *db = da + n, *dc = db + m, *df = dc + nm, *dg = df + n, *dp = dg + m;
        double *dr = dp + nm, *dcol = dr + n;
        for (int64_t i = 0; i < n; ++i)
            da[i] = a[p * n + i], df[i] = f[p * n + i];
        for (int64_t j = 0; j < m; ++j)
            db[j] = b[p * m + j], dg[j] = g[p * m + j];
        for (size_t e = 0; e < nm; ++e)
            dc[e] = c[(size_t)p * nm + e];
        sns_problem q = {n, m, eps, da, db, dc, df, dg, dp, dr, dcol};
        double err = error[p];
        if (!converged[p] && job->max_iter > iterations[p]) {
            iterations[p] += newton(&q, job->tol, job->max_iter - iterations[p], &err, work);
        } else {
            plan_and_dual(&q);
            err = marginal_error(&q);
        }
        error[p] = (float)err;
        converged[p] = err <= job->tol;
        /* The outputs at the final potentials, as floats. */
        double cs = 0.0, fg = 0.0, mass = 0.0;
        for (int64_t i = 0; i < n; ++i) {
            f[p * n + i] = da[i] > 0 ? (float)df[i] : -INFINITY;
            for (int64_t j = 0; j < m; ++j) {
                const double v = dp[i * m + j];
                if (plan) plan[(size_t)p * nm + (size_t)(i * m + j)] = (float)v;
                cs += v * dc[i * m + j], fg += v * (df[i] + dg[j]), mass += v;
            }
        }
        for (int64_t j = 0; j < m; ++j)
            g[p * m + j] = db[j] > 0 ? (float)dg[j] : -INFINITY;
        cost[p] = (float)cs;
        objective[p] = (float)(fg - eps * mass);
    }
    const optk_sinkhorn_outputs *o = &job->out;
    if (s == OPTK_OK) s = ctx->ops->mem_upload(ctx, o->f, f, (size_t)(B * n) * 4);
    if (s == OPTK_OK) s = ctx->ops->mem_upload(ctx, o->g, g, (size_t)(B * m) * 4);
    if (s == OPTK_OK && o->iterations)
        s = ctx->ops->mem_upload(ctx, o->iterations, iterations, (size_t)B * 4);
    if (s == OPTK_OK && o->error) s = ctx->ops->mem_upload(ctx, o->error, error, (size_t)B * 4);
    if (s == OPTK_OK && o->converged)
        s = ctx->ops->mem_upload(ctx, o->converged, converged, (size_t)B * 4);
    if (s == OPTK_OK && o->cost) s = ctx->ops->mem_upload(ctx, o->cost, cost, (size_t)B * 4);
    if (s == OPTK_OK && o->objective)
        s = ctx->ops->mem_upload(ctx, o->objective, objective, (size_t)B * 4);
    if (s == OPTK_OK && o->plan) s = ctx->ops->mem_upload(ctx, o->plan, plan, (size_t)B * nm * 4);
    if (dev) ctx->ops->mem_free(ctx, dev);
    free(a), free(b), free(c), free(f), free(g), free(stats), free(qd), free(work);
    free(out_stats), free(plan);
    return s;
}
