/* sinkhorn.c — the CPU side of batched Sinkhorn: the problems split over the cores, each
 * solved whole by one thread, every sum in the order src/common/sinkhorn.h fixes (CUDA's),
 * so both backends give the same bits. The column
 * log-sum-exps run with i outer and j inner, so the cost is read row by row, as it lies in
 * memory, and both updates vectorise (across columns, and across a row's 16 lanes). */
#include "cpu_backend.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "ot_cost.h"
#include "parallel.h"
#include "row_lse.h"

#include <math.h>
#include <stdlib.h>

optk_status optk_cpu_ot_weights_check(optk_context *ctx, const float *w, int64_t rows, int64_t cols,
                                      int64_t *bad_row, int *why) {
    (void)ctx;
    *bad_row = -1;
    for (int64_t r = 0; r < rows; ++r) {
        double sum = 0.0;
        for (int64_t k = 0; k < cols; ++k) {
            const float v = w[r * cols + k];
            if (!(v >= 0.0f && v <= 3.4028234663852886e38f)) {
                *bad_row = r;
                *why = 0;
                return OPTK_OK;
            }
            sum += v;
        }
        if (sum == 0.0) {
            *bad_row = r;
            *why = 1;
            return OPTK_OK;
        }
    }
    return OPTK_OK;
}

/* One problem's state while it is solved, and its scratch. */
typedef struct solve {
    const optk_sinkhorn_job *job;
    int64_t p; /* the problem */
    const float *a, *b;
    float *f, *g;
    float *col_max; /* m: the column log-sum-exps */
    double *col_sum;
    float *cost_row; /* m: a row of point-cloud costs */
    float *yt;       /* dim x m: the problem's y transposed (point clouds) */
    float *kernel;   /* n x m: the absorbed kernel of a kernel-domain block (NULL: none) */
    float *u, *v;    /* n, m: its scalings */
} solve;

/* Row i of the problem's cost: the dense row itself, or computed into s->cost_row from the
 * transposed y (optk_point_cost's bits, vectorised across the row). */
static const float *cost_row(const solve *s, int64_t i) {
    const optk_ot_view *v = &s->job->view;
    if (v->cost == OPTK_COST_DENSE) return v->c + (s->p * v->n + i) * v->m;
    optk_cpu_cost_row(v->x + (s->p * v->n + i) * v->dim, s->yt, v->m, v->dim,
                      v->cost == OPTK_COST_EUCLIDEAN, s->cost_row);
    return s->cost_row;
}

/* Adds row i (potential fi) to every column's log-sum-exp. */
OPTK_CPU_HOT_LOOP static void add_row(const float *restrict c, float fi, float eps, int64_t m,
                                      float *restrict col_max, double *restrict col_sum) {
    for (int64_t j = 0; j < m; ++j)
        optk_lse_add(&col_max[j], &col_sum[j], fi - c[j], eps);
}

/* g'_j from the current f (the g update, or the error's reference), into out: the rows in
 * index order, as CUDA's thread per column adds them. */
OPTK_CPU_HOT_LOOP static void column_update(const solve *s, float eps, float tau, float *out) {
    const optk_ot_view *v = &s->job->view;
    for (int64_t j = 0; j < v->m; ++j) {
        s->col_max[j] = -OPTK_INF_F;
        s->col_sum[j] = 0.0;
    }
    for (int64_t i = 0; i < v->n; ++i) {
        if (s->a[i] != 0.0f) add_row(cost_row(s, i), s->f[i], eps, v->m, s->col_max, s->col_sum);
    }
    for (int64_t j = 0; j < v->m; ++j) {
        const optk_lse l = {s->col_max[j], s->col_sum[j]};
        out[j] = optk_potential(s->b[j], l, eps, tau);
    }
}

/* The f update: each row's lanes, then the lane trees of OPTK_CPU_TREE_ROWS rows at a time
 * (row_lse.h: the warp's order for every row). */
OPTK_CPU_HOT_LOOP static void row_update(const solve *s, float eps, float tau) {
    const optk_ot_view *v = &s->job->view;
    optk_cpu_tree_block t;
    for (int64_t i0 = 0; i0 < v->n; i0 += OPTK_CPU_TREE_ROWS) {
        const int rows = v->n - i0 < OPTK_CPU_TREE_ROWS ? (int)(v->n - i0) : OPTK_CPU_TREE_ROWS;
        for (int r = 0; r < rows; ++r)
            optk_cpu_tree_block_row(&t, r, cost_row(s, i0 + r), s->g, s->b, eps, v->m);
        optk_cpu_tree_block_merge(&t, rows, eps);
        for (int r = 0; r < rows; ++r)
            s->f[i0 + r] = optk_potential(s->a[i0 + r], optk_cpu_tree_block_lse(&t, r), eps, tau);
    }
}

/* The error: the column terms in OPTK_SINKHORN_PARTIALS partials and the block tree. */
OPTK_CPU_HOT_LOOP static double error_of(const solve *s, const float *g_next, float eps) {
    double partial[OPTK_SINKHORN_PARTIALS] = {0};
    for (int64_t j = 0; j < s->job->view.m; ++j)
        partial[j % OPTK_SINKHORN_PARTIALS] += optk_error_term(s->b[j], s->g[j], g_next[j], eps);
    return optk_sum_tree(partial);
}

/* The plan's sums at the target epsilon: <P, C>, <P, C> - eps H(P), and P itself; entry e
 * in partial e % PARTIALS, as a CUDA block sums them. */
OPTK_CPU_HOT_LOOP static void finish(const solve *s, float eps) {
    const optk_sinkhorn_job *job = s->job;
    const optk_ot_view *v = &job->view;
    /* 6 KiB on the stack, not static: contexts may run on several threads. */
    double partial[3][OPTK_SINKHORN_PARTIALS] = {{0}};
    float *plan = job->out.plan ? job->out.plan + s->p * v->n * v->m : NULL;
    for (int64_t i = 0; i < v->n; ++i) {
        const float *c = cost_row(s, i);
        for (int64_t j = 0; j < v->m; ++j) {
            const float pij = optk_plan_entry(s->f[i], s->g[j], c[j], eps);
            const int64_t e = i * v->m + j;
            if (plan) plan[e] = pij;
            if (pij == 0.0f) continue;
            const int t = (int)(e % OPTK_SINKHORN_PARTIALS);
            partial[0][t] += (double)pij * c[j];
            partial[1][t] += (double)pij * ((double)s->f[i] + s->g[j]);
            partial[2][t] += pij;
        }
    }
    const double cost = optk_sum_tree(partial[0]), fg = optk_sum_tree(partial[1]);
    const double mass = optk_sum_tree(partial[2]);
    if (job->out.cost) job->out.cost[s->p] = (float)cost;
    if (job->out.objective) job->out.objective[s->p] = (float)(fg - (double)eps * mass);
}

/* len log-domain iterations. g_ready: g_next holds the next g update already. */
static void log_iterations(const solve *s, int len, float eps, float tau, float *g_next,
                           bool *g_ready) {
    for (int k = 0; k < len; ++k) {
        if (!*g_ready) column_update(s, eps, tau, g_next);
        for (int64_t j = 0; j < s->job->view.m; ++j)
            s->g[j] = g_next[j];
        row_update(s, eps, tau);
        *g_ready = false;
    }
}

/* len symmetric iterations of a self problem (common/sinkhorn.h): f <- (f + T(f)) / 2 with
 * T(f) the g update of f, then g = f; cold (a cold start's first block): the first is
 * f <- T(f). g_ready: g_next holds T(f) already (a check's). */
static void symmetric_iterations(const solve *s, int len, float eps, float tau, float *g_next,
                                 bool *g_ready, bool cold) {
    for (int k = 0; k < len; ++k) {
        if (!*g_ready) column_update(s, eps, tau, g_next);
        const bool plain = cold && k == 0;
        for (int64_t j = 0; j < s->job->view.m; ++j) {
            s->f[j] = plain ? g_next[j] : optk_symmetric_average(s->f[j], g_next[j]);
            s->g[j] = s->f[j];
        }
        *g_ready = false;
    }
}

/* The kernel of the current potentials, K_ij = exp((f_i + g_j - C_ij) / eps), row by row
 * (g: s->g, or s->f for a self problem). */
OPTK_CPU_HOT_LOOP static void absorb_kernel(const solve *s, const float *restrict g, float eps) {
    const int64_t n = s->job->view.n, m = s->job->view.m;
    for (int64_t i = 0; i < n; ++i) {
        const float *c = cost_row(s, i);
        float *k = s->kernel + i * m;
        const float ai = s->a[i], fi = s->f[i];
        for (int64_t j = 0; j < m; ++j)
            k[j] = optk_kernel_entry(ai, fi, g[j], c[j], eps);
    }
}

/* v_j = b_j / sum_i K_ij u_i: the rows in index order (i outer, so K is read as it lies); g:
 * the column potentials K was absorbed with. */
OPTK_CPU_HOT_LOOP static int column_scalings(const solve *s, const float *g, float tau, float eps) {
    const int64_t n = s->job->view.n, m = s->job->view.m;
    double *restrict sum = s->col_sum;
    for (int64_t j = 0; j < m; ++j)
        sum[j] = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) { /* four rows a pass over sum, still added in row order */
        const float *restrict k = s->kernel + i * m;
        const double u0 = s->u[i], u1 = s->u[i + 1], u2 = s->u[i + 2], u3 = s->u[i + 3];
        for (int64_t j = 0; j < m; ++j) {
            double x = sum[j];
            x += (double)k[j] * u0;
            x += (double)k[m + j] * u1;
            x += (double)k[2 * m + j] * u2;
            x += (double)k[3 * m + j] * u3;
            sum[j] = x;
        }
    }
    for (; i < n; ++i) {
        const float *restrict k = s->kernel + i * m;
        const double ui = s->u[i];
        for (int64_t j = 0; j < m; ++j)
            sum[j] += (double)k[j] * ui;
    }
    int unsafe = 0;
    for (int64_t j = 0; j < m; ++j)
        s->v[j] = optk_scaling_tau(s->b[j], sum[j], tau, g[j], eps, &unsafe);
    return !unsafe;
}

/* u_i = a_i / sum_j K_ij v_j: column j in lane j % LANES, then the lane tree (a warp's).
 * v is widened to double once (col_sum's room), not once per row. */
OPTK_CPU_HOT_LOOP static int row_scalings(const solve *s, float tau, float eps) {
    const int64_t n = s->job->view.n, m = s->job->view.m;
    double *restrict v = s->col_sum;
    for (int64_t j = 0; j < m; ++j)
        v[j] = s->v[j];
    int unsafe = 0;
    for (int64_t i = 0; i < n; ++i) {
        const float *restrict k = s->kernel + i * m;
        double lanes[OPTK_SINKHORN_LANES] = {0};
        int64_t j0 = 0;
        for (; j0 + OPTK_SINKHORN_LANES <= m; j0 += OPTK_SINKHORN_LANES) {
            for (int l = 0; l < OPTK_SINKHORN_LANES; ++l)
                lanes[l] += (double)k[j0 + l] * v[j0 + l];
        }
        for (int64_t j = j0; j < m; ++j)
            lanes[j - j0] += (double)k[j] * v[j];
        s->u[i] = optk_scaling_tau(s->a[i], optk_sum_lanes(lanes), tau, s->f[i], eps, &unsafe);
    }
    return !unsafe;
}

/* A kernel-domain block of len iterations (common/sinkhorn.h): alternating, or for a self
 * problem symmetric — K absorbed with f on both sides, then u <- sqrt(u v) after each column
 * pass (cold: the first is u <- v). 1 with f and g absorbed (a self problem's g = f), or 0
 * (unsafe) with f and g as they were. */
OPTK_CPU_HOT_LOOP static int kernel_iterations(const solve *s, int len, float eps, float tau,
                                               bool cold) {
    const optk_ot_view *view = &s->job->view;
    const bool symmetric = s->job->symmetric;
    const float *g0 = symmetric ? s->f : s->g; /* the column potentials K is absorbed with */
    absorb_kernel(s, g0, eps);
    for (int64_t i = 0; i < view->n; ++i)
        s->u[i] = 1.0f;
    for (int k = 0; k < len; ++k) {
        if (!column_scalings(s, g0, tau, eps)) return 0;
        if (!symmetric) {
            if (!row_scalings(s, tau, eps)) return 0;
            continue;
        }
        const bool plain = cold && k == 0;
        for (int64_t j = 0; j < view->n; ++j)
            s->u[j] = plain ? s->v[j] : optk_symmetric_scaling(s->u[j], s->v[j]);
    }
    for (int64_t i = 0; i < view->n; ++i)
        s->f[i] = optk_absorb(s->f[i], s->u[i], eps);
    for (int64_t j = 0; j < view->m; ++j)
        s->g[j] = symmetric ? s->f[j] : optk_absorb(s->g[j], s->v[j], eps);
    return 1;
}

/* Blocks of iterations between checks: symmetric for a self problem, alternating otherwise;
 * each in the kernel domain where safe (else, or when that fails, in the log domain), then
 * the check when eps has reached its target. */
OPTK_CPU_HOT_LOOP static void solve_problem(solve s, int64_t p, float *g_next) {
    const optk_sinkhorn_job *job = s.job;
    const optk_ot_view *v = &job->view;
    s.p = p;
    s.a = v->a + p * v->n, s.b = v->b + p * v->m;
    s.f = job->out.f + p * v->n, s.g = job->out.g + p * v->m;
    if (v->cost != OPTK_COST_DENSE)
        optk_cpu_transpose_points(v->y + p * v->m * v->dim, v->m, v->dim, s.yt);
    if (!job->warm_start) {
        for (int64_t i = 0; i < v->n; ++i)
            s.f[i] = 0.0f;
        for (int64_t j = 0; j < v->m; ++j)
            s.g[j] = 0.0f;
    }
    const float target = (float)job->epsilon;
    double error = INFINITY;
    int converged = 0, it = 0;
    bool g_ready = false; /* g_next holds the next g update (computed by the last check) */
    while (it < job->max_iter && !converged) {
        const int len =
            job->check_every < job->max_iter - it ? job->check_every : job->max_iter - it;
        const float eps = optk_sinkhorn_epsilon(job->epsilon, job->epsilon_start,
                                                job->epsilon_decay, it / job->check_every);
        const float tau = optk_sinkhorn_tau(job->rho, eps);
        const bool cold = it == 0 && !job->warm_start;
        if (s.kernel && kernel_iterations(&s, len, eps, tau, cold)) { /* K has room */
            g_ready = false;
        } else if (job->symmetric) {
            symmetric_iterations(&s, len, eps, tau, g_next, &g_ready, cold);
        } else {
            log_iterations(&s, len, eps, tau, g_next, &g_ready);
        }
        it += len;
        if (it % job->check_every == 0 && eps == target) {
            column_update(&s, eps, tau, g_next);
            g_ready = true;
            error = error_of(&s, g_next, eps);
            converged = error <= job->tol;
        }
    }
    if (!g_ready) { /* the last iteration was not a check: measure where it stopped */
        column_update(&s, target, optk_sinkhorn_tau(job->rho, target), g_next);
        error = error_of(&s, g_next, target);
        converged = error <= job->tol;
    }
    if (job->out.iterations) job->out.iterations[p] = it;
    if (job->out.error) job->out.error[p] = (float)error;
    if (job->out.converged) job->out.converged[p] = converged;
    finish(&s, target);
}

/* Problems [begin, end) on one thread, with its own scratch. */
static int solve_problems(void *arg, int64_t begin, int64_t end, int worker) {
    (void)worker;
    const optk_sinkhorn_job *job = arg;
    const size_t n = (size_t)job->view.n, m = (size_t)job->view.m;
    /* K gets room (and blocks try the kernel domain) where the job may use it. */
    const bool kernel = optk_sinkhorn_kernel_block(job->view.n, job->view.m, job->log_domain_only);
    const bool points = job->view.cost != OPTK_COST_DENSE;
    solve s = {.job = job,
               .col_max = malloc(m * sizeof(float)),
               .col_sum = malloc(m * sizeof(double)),
               .cost_row = malloc(m * sizeof(float)),
               .yt = points ? malloc(m * (size_t)job->view.dim * sizeof(float)) : NULL,
               .kernel = kernel ? malloc(n * m * sizeof(float)) : NULL,
               .u = malloc(n * sizeof(float)),
               .v = malloc(m * sizeof(float))};
    float *g_next = malloc(m * sizeof(float));
    const int ok = s.col_max && s.col_sum && s.cost_row && g_next && s.u && s.v &&
                   (s.kernel || !kernel) && (s.yt || !points);
    for (int64_t p = begin; p < end && ok; ++p)
        solve_problem(s, p, g_next);
    free(s.col_max);
    free(s.col_sum);
    free(s.cost_row);
    free(s.yt);
    free(s.kernel);
    free(s.u);
    free(s.v);
    free(g_next);
    return ok ? 0 : 1;
}

optk_status optk_cpu_sinkhorn(optk_context *ctx, const optk_sinkhorn_job *job) {
    /* Problems are independent: each is solved whole by one thread, in the same order of
     * operations whatever the thread count. */
    const int workers = optk_cpu_workers(job->batch);
    if (optk_cpu_parallel(job->batch, workers, solve_problems, (void *)job) != 0)
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory");
    return OPTK_OK;
}
