/* sinkhorn.c — the CPU side of batched Sinkhorn: one problem after another, every sum in
 * index order (the reference CUDA is checked against). The column log-sum-exps run with i
 * outer and j inner, so the cost is read row by row, as it lies in memory. */
#include "cpu_backend.h"

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

/* One problem's state while it is solved. */
typedef struct solve {
    const optk_sinkhorn_job *job;
    int64_t p; /* the problem */
    const float *a, *b;
    float *f, *g;
    optk_lse *col; /* m partial column sums */
} solve;

/* g'_j from the current f (the g update, or the error's reference), into out. */
static void column_update(const solve *s, float eps, float tau, float *out) {
    const optk_ot_view *v = &s->job->view;
    for (int64_t j = 0; j < v->m; ++j)
        s->col[j] = optk_lse_empty();
    for (int64_t i = 0; i < v->n; ++i) {
        if (s->a[i] == 0.0f) continue;
        const float fi = s->f[i];
        for (int64_t j = 0; j < v->m; ++j)
            optk_lse_push(&s->col[j], fi - optk_ot_cost_at(v, s->p, i, j), eps);
    }
    for (int64_t j = 0; j < v->m; ++j)
        out[j] = optk_potential(s->b[j], s->col[j], eps, tau);
}

static void row_update(const solve *s, float eps, float tau) {
    const optk_ot_view *v = &s->job->view;
    for (int64_t i = 0; i < v->n; ++i) {
        optk_lse row = optk_lse_empty();
        for (int64_t j = 0; j < v->m; ++j) {
            if (s->b[j] != 0.0f) optk_lse_push(&row, s->g[j] - optk_ot_cost_at(v, s->p, i, j), eps);
        }
        s->f[i] = optk_potential(s->a[i], row, eps, tau);
    }
}

static double error_of(const solve *s, const float *g_next, float eps) {
    double e = 0.0;
    for (int64_t j = 0; j < s->job->view.m; ++j)
        e += optk_error_term(s->b[j], s->g[j], g_next[j], eps);
    return e;
}

/* The plan's sums at the target epsilon: <P, C>, <P, C> - eps H(P), and P itself. */
static void finish(const solve *s, float eps) {
    const optk_sinkhorn_job *job = s->job;
    const optk_ot_view *v = &job->view;
    double cost = 0.0, fg = 0.0, mass = 0.0;
    float *plan = job->out.plan ? job->out.plan + s->p * v->n * v->m : NULL;
    for (int64_t i = 0; i < v->n; ++i) {
        for (int64_t j = 0; j < v->m; ++j) {
            const float c = optk_ot_cost_at(v, s->p, i, j);
            const float pij = optk_plan_entry(s->f[i], s->g[j], c, eps);
            if (plan) plan[i * v->m + j] = pij;
            if (pij == 0.0f) continue;
            cost += (double)pij * c;
            fg += (double)pij * ((double)s->f[i] + s->g[j]);
            mass += pij;
        }
    }
    if (job->out.cost) job->out.cost[s->p] = (float)cost;
    if (job->out.objective) job->out.objective[s->p] = (float)(fg - (double)eps * mass);
}

static void solve_problem(const optk_sinkhorn_job *job, int64_t p, optk_lse *col, float *g_next) {
    const optk_ot_view *v = &job->view;
    solve s = {
        job, p, v->a + p * v->n, v->b + p * v->m, job->out.f + p * v->n, job->out.g + p * v->m,
        col};
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
    for (it = 0; it < job->max_iter && !converged; ++it) {
        const float eps = optk_sinkhorn_epsilon(job->epsilon, job->epsilon_start,
                                                job->epsilon_decay, it / job->check_every);
        const float tau = optk_sinkhorn_tau(job->rho, eps);
        if (!g_ready) column_update(&s, eps, tau, g_next);
        for (int64_t j = 0; j < v->m; ++j)
            s.g[j] = g_next[j];
        row_update(&s, eps, tau);
        g_ready = false;
        if ((it + 1) % job->check_every == 0 && eps == target) {
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

optk_status optk_cpu_sinkhorn(optk_context *ctx, const optk_sinkhorn_job *job) {
    optk_lse *col = malloc((size_t)job->view.m * sizeof *col);
    float *g_next = malloc((size_t)job->view.m * sizeof *g_next);
    if (!col || !g_next) {
        free(col);
        free(g_next);
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn: out of host memory");
    }
    for (int64_t p = 0; p < job->batch; ++p)
        solve_problem(job, p, col, g_next);
    free(col);
    free(g_next);
    return OPTK_OK;
}

optk_status optk_cpu_plan_apply(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                float eps, const float *f, const float *g, bool transpose,
                                const float *v, int64_t k, float *out) {
    enum { CHUNK = 256 };
    double acc[CHUNK];
    (void)ctx;
    const int64_t rows = transpose ? view->m : view->n;
    for (int64_t p = 0; p < batch; ++p) {
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t c0 = 0; c0 < k; c0 += CHUNK) {
                const int64_t count = k - c0 < CHUNK ? k - c0 : CHUNK;
                optk_plan_apply_row(view, p, eps, f, g, transpose, v, k, r, acc, c0, count);
                for (int64_t c = 0; c < count; ++c)
                    out[(p * rows + r) * k + c0 + c] = (float)acc[c];
            }
        }
    }
    return OPTK_OK;
}
