/* ot_cost.c — optk_ot_cost_fill on the CPU. Each problem's y is transposed once (dim x m, and
 * for the GEMM method its squared norms taken in double), then each row of C is built over
 * a chunk of columns at a time, coordinate by coordinate: loops over j that vectorise, in
 * the coordinate order optk_point_cost sums in. Rows are independent: the cores share them,
 * and the thread count changes no bit. */
#include "ot_cost.h"
#include "cpu_backend.h"
#include "mixed_precision.h" /* OPTK_CPU_HOT_LOOP */
#include "parallel.h"

#include <math.h>

/* Columns per pass over a row's coordinates: the chunk of the row stays in L1. */
enum { COLUMN_CHUNK = 1024 };

typedef struct cost_job {
    const optk_ot_view *view;
    bool gemm;
    float *c;
    const double *ynorm; /* batch x m: |y_j|^2 in double (GEMM method) */
    const float *yt;     /* batch x dim x m */
} cost_job;

/* Columns [j0, j0 + len) of row x: out[j] = sum_k fmaf((x_k - y_jk)^2), k in order — the
 * bits of optk_point_cost — or its square root. */
OPTK_CPU_HOT_LOOP static void direct_chunk(const float *restrict x, const float *restrict yt,
                                           int64_t m, int64_t dim, bool euclidean, int64_t len,
                                           float *restrict out) {
    for (int64_t j = 0; j < len; ++j)
        out[j] = 0.0f;
    for (int64_t k = 0; k < dim; ++k) {
        const float xk = x[k], *restrict yk = yt + k * m;
        for (int64_t j = 0; j < len; ++j) {
            const float diff = xk - yk[j];
            out[j] = fmaf(diff, diff, out[j]);
        }
    }
    if (euclidean) {
        for (int64_t j = 0; j < len; ++j)
            out[j] = sqrtf(out[j]);
    }
}

void optk_cpu_transpose_points(const float *y, int64_t m, int64_t dim, float *yt) {
    for (int64_t j = 0; j < m; ++j)
        for (int64_t k = 0; k < dim; ++k)
            yt[k * m + j] = y[j * dim + k];
}

void optk_cpu_cost_row(const float *x, const float *yt, int64_t m, int64_t dim, bool euclidean,
                       float *out) {
    for (int64_t j0 = 0; j0 < m; j0 += COLUMN_CHUNK) {
        const int64_t len = m - j0 < COLUMN_CHUNK ? m - j0 : COLUMN_CHUNK;
        direct_chunk(x, yt + j0, m, dim, euclidean, len, out + j0);
    }
}

/* The same columns as |x|^2 + |y_j|^2 - 2 x . y_j in double, clamped at 0 (a NaN stays). */
OPTK_CPU_HOT_LOOP static void gemm_chunk(const float *restrict x, double xnorm,
                                         const float *restrict yt, const double *restrict ynorm,
                                         int64_t m, int64_t dim, bool euclidean, int64_t len,
                                         float *restrict out) {
    double dot[COLUMN_CHUNK];
    for (int64_t j = 0; j < len; ++j)
        dot[j] = 0.0;
    for (int64_t k = 0; k < dim; ++k) {
        const double xk = x[k];
        const float *restrict yk = yt + k * m;
        for (int64_t j = 0; j < len; ++j)
            dot[j] += xk * (double)yk[j];
    }
    for (int64_t j = 0; j < len; ++j) {
        double s = xnorm + ynorm[j] - 2.0 * dot[j];
        s = s < 0.0 ? 0.0 : s;
        out[j] = (float)(euclidean ? sqrt(s) : s);
    }
}

/* Rows [r0, r1) of the batch's rows (row r: problem r / n, point r % n). */
static int cost_rows(void *arg, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const cost_job *job = arg;
    const optk_ot_view *v = job->view;
    const int64_t n = v->n, m = v->m, dim = v->dim;
    const bool euclidean = v->cost == 2;
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t p = r / n;
        const float *x = v->x + r * dim, *yt = job->yt + p * dim * m;
        double xnorm = 0.0;
        for (int64_t k = 0; job->gemm && k < dim; ++k)
            xnorm += (double)x[k] * (double)x[k];
        if (!job->gemm) {
            optk_cpu_cost_row(x, yt, m, dim, euclidean, job->c + r * m);
            continue;
        }
        for (int64_t j0 = 0; j0 < m; j0 += COLUMN_CHUNK) {
            const int64_t len = m - j0 < COLUMN_CHUNK ? m - j0 : COLUMN_CHUNK;
            gemm_chunk(x, xnorm, yt + j0, job->ynorm + p * m + j0, m, dim, euclidean, len,
                       job->c + r * m + j0);
        }
    }
    return 0;
}

optk_status optk_cpu_ot_cost_fill(optk_context *ctx, const optk_ot_view *view, int64_t batch,
                                  bool gemm, float *c) {
    const int64_t m = view->m, dim = view->dim;
    void *scratch = NULL;
    const size_t norms = gemm ? (size_t)(batch * m) : 0;
    optk_status s = ctx->ops->workspace(
        ctx, norms * sizeof(double) + (size_t)(batch * m * dim) * sizeof(float), &scratch);
    if (s != OPTK_OK) return s;
    double *ynorm = scratch;
    void *after_norms = ynorm + norms; /* the transposed points follow the norms */
    float *yt = after_norms;
    for (int64_t p = 0; p < batch; ++p) {
        optk_cpu_transpose_points(view->y + p * m * dim, m, dim, yt + p * dim * m);
        for (int64_t j = 0; gemm && j < m; ++j) {
            const float *y = view->y + (p * m + j) * dim;
            double sq = 0.0;
            for (int64_t k = 0; k < dim; ++k)
                sq += (double)y[k] * (double)y[k];
            ynorm[p * m + j] = sq;
        }
    }
    cost_job job = {view, gemm, c, ynorm, yt};
    const int64_t rows = batch * view->n;
    const double work = (double)rows * (double)m * (double)dim;
    const int workers = work >= (double)(1 << 20) ? optk_cpu_workers(rows) : 1;
    optk_cpu_parallel(rows, workers, cost_rows, &job);
    return OPTK_OK;
}
