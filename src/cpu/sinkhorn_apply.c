/* sinkhorn_apply.c — P V and P^T V on the CPU without forming P, the plan-weighted cost
 * gradient of every point (optk_plan_gradient_row's sum), and the c-transform of potentials
 * at every point. Per output row the plan's row (or column) is built once: its costs a
 * coordinate at a time from the other side's points transposed (optk_point_cost's bits, see
 * ot_cost.h), its entries by optk_plan_entry — both loops vectorise — and then added into the
 * output in double, the plan's entries in index order and the zero ones skipped, as
 * optk_plan_apply_row (CUDA's arithmetic) does. Output rows are independent: the cores share
 * them, and the thread count changes no bit. */
#include "cpu_backend.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "ot_cost.h"
#include "parallel.h"
#include "row_lse.h"

#include <stdlib.h>

/* Columns of V per pass over a plan row: their double sums stay in L1. */
enum { APPLY_CHUNK = 256 };

typedef struct apply_job {
    const optk_ot_view *view;
    float eps;
    const float *f, *g;
    bool transpose;
    const float *v;
    int64_t k;
    float *out;
    const float *points_t; /* point clouds: the other side's points, batch x dim x others */
    /* The c-transform: the other side's potentials and weights, the damping. */
    const float *h, *w;
    float tau;
} apply_job;

/* The costs of row r of problem p (column r with transpose), over the other side: a dense
 * row where it lies, or a dense column gathered, or point costs computed, into scratch. */
OPTK_CPU_HOT_LOOP static const float *row_costs(const apply_job *job, int64_t p, int64_t r,
                                                float *restrict scratch) {
    const optk_ot_view *v = job->view;
    const int64_t n = v->n, m = v->m, others = job->transpose ? n : m;
    if (v->cost == OPTK_COST_DENSE && !job->transpose) return v->c + (p * n + r) * m;
    if (v->cost == OPTK_COST_DENSE) {
        for (int64_t s = 0; s < others; ++s)
            scratch[s] = v->c[(p * n + s) * m + r];
        return scratch;
    }
    const float *point = job->transpose ? v->y + (p * m + r) * v->dim : v->x + (p * n + r) * v->dim;
    optk_cpu_cost_row(point, job->points_t + p * v->dim * others, others, v->dim,
                      v->cost == OPTK_COST_EUCLIDEAN, scratch);
    return scratch;
}

/* The plan's row r of problem p (column r with transpose) into prow, via its costs (left in
 * scratch unless a dense row is read where it lies). */
OPTK_CPU_HOT_LOOP static void plan_row(const apply_job *job, int64_t p, int64_t r,
                                       float *restrict scratch, float *restrict prow) {
    const optk_ot_view *v = job->view;
    const int64_t n = v->n, m = v->m, others = job->transpose ? n : m;
    const float *cost = row_costs(job, p, r, scratch);
    if (job->transpose) {
        const float gr = job->g[p * m + r];
        for (int64_t s = 0; s < others; ++s)
            prow[s] = optk_plan_entry(job->f[p * n + s], gr, cost[s], job->eps);
    } else {
        const float fr = job->f[p * n + r];
        for (int64_t s = 0; s < others; ++s)
            prow[s] = optk_plan_entry(fr, job->g[p * m + s], cost[s], job->eps);
    }
}

/* out row = sum_s prow[s] V[s] over the columns [c0, c0 + count), in double, s in order. */
OPTK_CPU_HOT_LOOP static void add_rows(const float *restrict prow, int64_t others,
                                       const float *restrict v, int64_t k, int64_t c0,
                                       int64_t count, float *restrict out) {
    double acc[APPLY_CHUNK];
    for (int64_t c = 0; c < count; ++c)
        acc[c] = 0.0;
    for (int64_t s = 0; s < others; ++s) {
        if (prow[s] == 0.0f) continue;
        const double pij = prow[s];
        const float *restrict row = v + s * k + c0;
        for (int64_t c = 0; c < count; ++c)
            acc[c] += pij * row[c];
    }
    for (int64_t c = 0; c < count; ++c)
        out[c0 + c] = (float)acc[c];
}

/* Output rows [r0, r1) of the batch (row q: problem q / rows, row q % rows). */
static int apply_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const apply_job *job = arg;
    const int64_t rows = job->transpose ? job->view->m : job->view->n;
    const int64_t others = job->transpose ? job->view->n : job->view->m;
    float *cost = malloc((size_t)others * sizeof(float)), *prow = malloc((size_t)others * 4);
    const int ok = cost && prow;
    for (int64_t q = r0; q < r1 && ok; ++q) {
        const int64_t p = q / rows, r = q % rows;
        plan_row(job, p, r, cost, prow);
        for (int64_t c0 = 0; c0 < job->k; c0 += APPLY_CHUNK) {
            const int64_t count = job->k - c0 < APPLY_CHUNK ? job->k - c0 : APPLY_CHUNK;
            add_rows(prow, others, job->v + p * others * job->k, job->k, c0, count,
                     job->out + q * job->k);
        }
    }
    free(cost);
    free(prow);
    return ok ? 0 : 1;
}

/* out[k0 ..] = sum_s P_rs scale_rs (z - w_s) over the coordinates [k0, k0 + count), in
 * double, s in order, zero entries skipped: optk_plan_gradient_row's arithmetic. w: the other
 * side's points (others x dim), z the row's point. */
OPTK_CPU_HOT_LOOP static void add_gradient(const float *restrict prow, const float *restrict cost,
                                           int64_t others, int kind, const float *restrict z,
                                           const float *restrict w, int64_t dim, int64_t k0,
                                           int64_t count, float *restrict out) {
    double acc[APPLY_CHUNK];
    for (int64_t c = 0; c < count; ++c)
        acc[c] = 0.0;
    for (int64_t s = 0; s < others; ++s) {
        if (prow[s] == 0.0f) continue;
        const double weight = (double)prow[s] * optk_cost_gradient_scale(cost[s], kind);
        const float *restrict ws = w + s * dim + k0;
        for (int64_t c = 0; c < count; ++c)
            acc[c] += weight * ((double)z[k0 + c] - (double)ws[c]);
    }
    for (int64_t c = 0; c < count; ++c)
        out[k0 + c] = (float)acc[c];
}

/* Output rows [r0, r1) of the gradient (row q: problem q / rows, point q % rows). */
static int gradient_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const apply_job *job = arg;
    const optk_ot_view *v = job->view;
    const int64_t rows = job->transpose ? v->m : v->n, others = job->transpose ? v->n : v->m;
    float *cost = malloc((size_t)others * sizeof(float)), *prow = malloc((size_t)others * 4);
    const int ok = cost && prow;
    for (int64_t q = r0; q < r1 && ok; ++q) {
        const int64_t p = q / rows;
        plan_row(job, p, q % rows, cost, prow); /* cost: the row's point costs */
        const float *z = (job->transpose ? v->y : v->x) + q * v->dim;
        const float *w = (job->transpose ? v->x : v->y) + p * others * v->dim;
        for (int64_t k0 = 0; k0 < v->dim; k0 += APPLY_CHUNK) {
            const int64_t count = v->dim - k0 < APPLY_CHUNK ? v->dim - k0 : APPLY_CHUNK;
            add_gradient(prow, cost, others, v->cost, z, w, v->dim, k0, count,
                         job->out + q * v->dim);
        }
    }
    free(cost);
    free(prow);
    return ok ? 0 : 1;
}

/* The other side's points transposed per problem (into the workspace), for plan_row. */
static optk_status transposed_points(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                     bool transpose, const float **out) {
    const int64_t others = transpose ? view->n : view->m;
    float *t = NULL;
    optk_status s =
        ctx->ops->workspace(ctx, (size_t)(batch * others * view->dim) * sizeof(float), (void **)&t);
    if (s != OPTK_OK) return s;
    const float *points = transpose ? view->x : view->y;
    for (int64_t p = 0; p < batch; ++p)
        optk_cpu_transpose_points(points + p * others * view->dim, others, view->dim,
                                  t + p * view->dim * others);
    *out = t;
    return OPTK_OK;
}

optk_status optk_cpu_plan_gradient(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                   float eps, const float *f, const float *g, bool transpose,
                                   float *out) {
    apply_job job = {view, eps, f, g, transpose, NULL, view->dim, out, NULL, NULL, NULL, 1.0f};
    optk_status s = transposed_points(ctx, view, batch, transpose, &job.points_t);
    if (s != OPTK_OK) return s;
    const int64_t rows = transpose ? view->m : view->n, others = transpose ? view->n : view->m;
    const double work = (double)(batch * rows) * (double)others * (double)(2 * view->dim);
    const int workers = work >= 1e6 ? optk_cpu_workers(batch * rows) : 1;
    if (optk_cpu_parallel(batch * rows, workers, gradient_rows, &job) != 0)
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn_gradient: out of host memory");
    return OPTK_OK;
}

optk_status optk_cpu_plan_apply(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                float eps, const float *f, const float *g, bool transpose,
                                const float *v, int64_t k, float *out) {
    apply_job job = {view, eps, f, g, transpose, v, k, out, NULL, NULL, NULL, 1.0f};
    const int64_t rows = transpose ? view->m : view->n, others = transpose ? view->n : view->m;
    if (view->cost != OPTK_COST_DENSE) { /* the other side's points, transposed */
        optk_status s = transposed_points(ctx, view, batch, transpose, &job.points_t);
        if (s != OPTK_OK) return s;
    }
    const double work = (double)(batch * rows) * (double)others * (double)(k + view->dim);
    const int workers = work >= 1e6 ? optk_cpu_workers(batch * rows) : 1;
    if (optk_cpu_parallel(batch * rows, workers, apply_rows, &job) != 0)
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn_apply: out of host memory");
    return OPTK_OK;
}

/* Output rows [r0, r1) of the c-transform (row q: problem q / rows, point q % rows), the
 * trees of OPTK_CPU_TREE_ROWS rows at a time (row_lse.h). */
static int ctransform_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const apply_job *job = arg;
    const int64_t rows = job->transpose ? job->view->m : job->view->n;
    const int64_t others = job->transpose ? job->view->n : job->view->m;
    float *scratch = malloc((size_t)others * sizeof(float));
    optk_cpu_tree_block t;
    for (int64_t q0 = r0; q0 < r1 && scratch; q0 += OPTK_CPU_TREE_ROWS) {
        const int count = r1 - q0 < OPTK_CPU_TREE_ROWS ? (int)(r1 - q0) : OPTK_CPU_TREE_ROWS;
        for (int r = 0; r < count; ++r) {
            const int64_t q = q0 + r, p = q / rows;
            optk_cpu_tree_block_row(&t, r, row_costs(job, p, q % rows, scratch),
                                    job->h + p * others, job->w + p * others, job->eps, others);
        }
        optk_cpu_tree_block_merge(&t, count, job->eps);
        for (int r = 0; r < count; ++r)
            job->out[q0 + r] =
                optk_potential(1.0f, optk_cpu_tree_block_lse(&t, r), job->eps, job->tau);
    }
    free(scratch);
    return scratch ? 0 : 1;
}

optk_status optk_cpu_ctransform(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                float eps, float tau, const float *h, const float *w,
                                bool transpose, float *out) {
    apply_job job = {view, eps, NULL, NULL, transpose, NULL, 0, out, NULL, h, w, tau};
    const int64_t rows = transpose ? view->m : view->n, others = transpose ? view->n : view->m;
    if (view->cost != OPTK_COST_DENSE) {
        optk_status s = transposed_points(ctx, view, batch, transpose, &job.points_t);
        if (s != OPTK_OK) return s;
    }
    const double work = (double)(batch * rows) * (double)others * (double)(view->dim + 8);
    const int workers = work >= 1e6 ? optk_cpu_workers(batch * rows) : 1;
    if (optk_cpu_parallel(batch * rows, workers, ctransform_rows, &job) != 0)
        return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "sinkhorn_divergence: out of host memory");
    return OPTK_OK;
}
