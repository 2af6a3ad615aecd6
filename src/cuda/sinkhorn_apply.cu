/* sinkhorn_apply.cu — P v without P on CUDA, and the plan-weighted cost gradient of every
 * point: a thread per (problem, output row, group of kColumns output columns or coordinates),
 * or for wider outputs a block per (problem, output row, kThreads columns) sharing the row's
 * plan entries, sums over the other index in order, in double — the CPU's sum, so the same
 * bits. And the c-transform of potentials at every point: half a warp per output, the f
 * update's order. */
#include "cuda_check.cuh"
#include "sinkhorn_kernels.cuh" /* row_merge */

#include <climits>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 128;
constexpr int kColumns = 8;

__global__ void __launch_bounds__(kThreads)
    apply_kernel(const optk_ot_view v, int64_t work, int64_t groups, float eps, const float *f,
                 const float *g, int transpose, const float *in, int64_t k, float *out) {
    const int64_t t = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (t >= work) return;
    const int64_t rows = transpose ? v.m : v.n;
    const int64_t group = t % groups, r = (t / groups) % rows, p = t / groups / rows;
    const int64_t c0 = group * kColumns;
    const int64_t count = k - c0 < kColumns ? k - c0 : kColumns;
    double acc[kColumns];
    optk_plan_apply_row(&v, p, eps, f, g, transpose, in, k, r, acc, c0, count);
    for (int64_t c = 0; c < count; ++c)
        out[(p * rows + r) * k + c0 + c] = (float)acc[c];
}

__global__ void __launch_bounds__(kThreads)
    gradient_kernel(const optk_ot_view v, int64_t work, int64_t groups, float eps, const float *f,
                    const float *g, int transpose, float *out) {
    const int64_t t = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (t >= work) return;
    const int64_t rows = transpose ? v.m : v.n;
    const int64_t group = t % groups, r = (t / groups) % rows, p = t / groups / rows;
    const int64_t k0 = group * kColumns;
    const int64_t count = v.dim - k0 < kColumns ? v.dim - k0 : kColumns;
    double acc[kColumns];
    optk_plan_gradient_row(&v, p, eps, f, g, transpose, r, acc, k0, count);
    for (int64_t c = 0; c < count; ++c)
        out[(p * rows + r) * v.dim + k0 + c] = (float)acc[c];
}

/* Wide outputs (more than kColumns columns or coordinates), which the kernels above would
 * split over threads that each recompute the whole row's plan entries: a block per (problem,
 * output row, kThreads columns). Its threads compute kThreads of the row's plan entries at a
 * time into shared memory, one each, then thread c adds them to column c in index order —
 * optk_plan_apply_row's and optk_plan_gradient_row's sums, so the same bits — and each entry
 * is computed once per kThreads columns instead of once per kColumns. */
struct WideRow {
    int64_t p, r, c; /* problem, output row, this thread's column */
    bool mine;       /* c is a column */
};

__device__ inline WideRow wide_row(int64_t rows, int64_t groups, int64_t columns) {
    const int64_t group = blockIdx.x % groups, row = blockIdx.x / groups;
    const int64_t c = group * kThreads + threadIdx.x;
    return WideRow{row / rows, row % rows, c, c < columns};
}

__global__ void __launch_bounds__(kThreads)
    apply_wide_kernel(const optk_ot_view v, int64_t groups, float eps, const float *f,
                      const float *g, int transpose, const float *in, int64_t k, float *out) {
    __shared__ float plan[kThreads];
    const int64_t rows = transpose ? v.m : v.n, others = transpose ? v.n : v.m;
    const WideRow w = wide_row(rows, groups, k);
    double acc = 0.0;
    for (int64_t s0 = 0; s0 < others; s0 += kThreads) {
        const int64_t s = s0 + threadIdx.x;
        if (s < others) {
            const int64_t i = transpose ? s : w.r, j = transpose ? w.r : s;
            plan[threadIdx.x] = optk_plan_entry(f[w.p * v.n + i], g[w.p * v.m + j],
                                                optk_ot_cost_at(&v, w.p, i, j), eps);
        }
        __syncthreads();
        const int64_t count = others - s0 < kThreads ? others - s0 : kThreads;
        if (w.mine) {
            const float *column = in + (w.p * others + s0) * k + w.c;
            for (int64_t t = 0; t < count; ++t) {
                const float pij = plan[t];
                if (pij != 0.0f) acc += (double)pij * column[t * k];
            }
        }
        __syncthreads(); /* every thread done with the entries before the next are written */
    }
    if (w.mine) out[(w.p * rows + w.r) * k + w.c] = (float)acc;
}

__global__ void __launch_bounds__(kThreads)
    gradient_wide_kernel(const optk_ot_view v, int64_t groups, float eps, const float *f,
                         const float *g, int transpose, float *out) {
    __shared__ float plan[kThreads];
    __shared__ double weight[kThreads];
    const int64_t rows = transpose ? v.m : v.n, others = transpose ? v.n : v.m;
    const WideRow w = wide_row(rows, groups, v.dim);
    const float *z = transpose ? v.y + (w.p * v.m + w.r) * v.dim : v.x + (w.p * v.n + w.r) * v.dim;
    const float *w0 = transpose ? v.x + w.p * v.n * v.dim : v.y + w.p * v.m * v.dim;
    const double zc = w.mine ? (double)z[w.c] : 0.0;
    double acc = 0.0;
    for (int64_t s0 = 0; s0 < others; s0 += kThreads) {
        const int64_t s = s0 + threadIdx.x;
        if (s < others) {
            const int64_t i = transpose ? s : w.r, j = transpose ? w.r : s;
            const float cost = optk_ot_cost_at(&v, w.p, i, j);
            const float pij = optk_plan_entry(f[w.p * v.n + i], g[w.p * v.m + j], cost, eps);
            plan[threadIdx.x] = pij;
            weight[threadIdx.x] = (double)pij * optk_cost_gradient_scale(cost, v.cost);
        }
        __syncthreads();
        const int64_t count = others - s0 < kThreads ? others - s0 : kThreads;
        if (w.mine) {
            const float *point = w0 + s0 * v.dim + w.c;
            for (int64_t t = 0; t < count; ++t) {
                if (plan[t] != 0.0f) acc += weight[t] * (zc - (double)point[t * v.dim]);
            }
        }
        __syncthreads();
    }
    if (w.mine) out[(w.p * rows + w.r) * v.dim + w.c] = (float)acc;
}

/* Half a warp per output q (problem q / rows, point q % rows), two a warp: column s in lane
 * s % kLseLanes of the half (with transpose: row s, C's column r), the lanes merged by the f
 * update's shuffle tree. A warp's second output past the end pushes nothing and writes
 * nothing, but its lanes take part in the shuffles. */
__global__ void __launch_bounds__(kThreads)
    ctransform_kernel(const optk_ot_view v, int64_t outputs, float eps, float tau, const float *h,
                      const float *w, int transpose, float *out) {
    using sinkhorn::kLseLanes;
    const int64_t first =
        ((int64_t)blockIdx.x * kThreads + threadIdx.x) / 32 * sinkhorn::kRowsPerWarp;
    if (first >= outputs) return; /* the whole warp */
    const int lane = (int)(threadIdx.x % 32), sub = lane % kLseLanes;
    const int64_t q = first + lane / kLseLanes;
    const bool live = q < outputs;
    const int64_t rows = transpose ? v.m : v.n, others = transpose ? v.n : v.m;
    const int64_t p = q / rows, r = q % rows;
    optk_lse l = optk_lse_empty();
    if (live) {
        sinkhorn::lse_push_in_order(
            &l, sub, others, kLseLanes, w + p * others, h + p * others,
            [&](int64_t s) {
                return transpose ? optk_ot_cost_at(&v, p, s, r) : optk_ot_cost_at(&v, p, r, s);
            },
            eps);
    }
    l = sinkhorn::row_merge(l, eps);
    if (live && sub == 0) out[q] = optk_potential(1.0f, l, eps, tau);
}

/* The launch for batch x rows outputs of `columns` values each: wide (columns > kColumns), a
 * block per output row and kThreads columns; else a thread per output row and kColumns
 * columns. */
struct Shape {
    bool wide;
    int64_t groups, work; /* column groups a row; threads with work (not wide) */
    unsigned blocks;
};

optk_status launch_shape(optk_context *ctx, const char *op, int64_t batch, int64_t rows,
                         int64_t columns, Shape *shape) {
    shape->wide = columns > kColumns;
    const int64_t per = shape->wide ? kThreads : kColumns;
    shape->groups = (columns + per - 1) / per;
    shape->work = batch * rows * shape->groups;
    const int64_t count = shape->wide ? shape->work : (shape->work + kThreads - 1) / kThreads;
    if (count > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: %lld outputs are beyond one grid", op,
                         (long long)shape->work);
    }
    shape->blocks = (unsigned)count;
    return OPTK_OK;
}

} // namespace

extern "C" optk_status optk_cuda_plan_apply(optk_context *ctx, const optk_ot_view *view,
                                            int64_t batch, float eps, const float *f,
                                            const float *g, bool transpose, const float *v,
                                            int64_t k, float *out) {
    static const char op[] = "sinkhorn_apply";
    optk_status s = enter(ctx, op);
    Shape shape = {};
    if (s == OPTK_OK) s = launch_shape(ctx, op, batch, transpose ? view->m : view->n, k, &shape);
    if (s != OPTK_OK) return s;
    const int t = transpose ? 1 : 0;
    if (shape.wide) {
        apply_wide_kernel<<<shape.blocks, kThreads, 0, stream_of(ctx)>>>(*view, shape.groups, eps,
                                                                         f, g, t, v, k, out);
    } else {
        apply_kernel<<<shape.blocks, kThreads, 0, stream_of(ctx)>>>(*view, shape.work, shape.groups,
                                                                    eps, f, g, t, v, k, out);
    }
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_plan_gradient(optk_context *ctx, const optk_ot_view *view,
                                               int64_t batch, float eps, const float *f,
                                               const float *g, bool transpose, float *out) {
    static const char op[] = "sinkhorn_gradient";
    optk_status s = enter(ctx, op);
    Shape shape = {};
    if (s == OPTK_OK)
        s = launch_shape(ctx, op, batch, transpose ? view->m : view->n, view->dim, &shape);
    if (s != OPTK_OK) return s;
    const int t = transpose ? 1 : 0;
    if (shape.wide) {
        gradient_wide_kernel<<<shape.blocks, kThreads, 0, stream_of(ctx)>>>(*view, shape.groups,
                                                                            eps, f, g, t, out);
    } else {
        gradient_kernel<<<shape.blocks, kThreads, 0, stream_of(ctx)>>>(
            *view, shape.work, shape.groups, eps, f, g, t, out);
    }
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_ctransform(optk_context *ctx, const optk_ot_view *view,
                                            int64_t batch, float eps, float tau, const float *h,
                                            const float *w, bool transpose, float *out) {
    static const char op[] = "sinkhorn_divergence";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t outputs = batch * (transpose ? view->m : view->n);
    const int64_t warps = (outputs + sinkhorn::kRowsPerWarp - 1) / sinkhorn::kRowsPerWarp;
    const int64_t blocks = (warps * 32 + kThreads - 1) / kThreads;
    if (blocks > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED,
                         "%s: %lld c-transform outputs are beyond one grid", op,
                         (long long)outputs);
    }
    ctransform_kernel<<<(unsigned)blocks, kThreads, 0, stream_of(ctx)>>>(
        *view, outputs, eps, tau, h, w, transpose ? 1 : 0, out);
    return check_launch(ctx, op);
}
