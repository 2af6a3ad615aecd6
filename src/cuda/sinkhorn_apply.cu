/* sinkhorn_apply.cu — P v without P on CUDA, and the plan-weighted cost gradient of every
 * point: a thread per (problem, output row, group of kColumns output columns or coordinates)
 * sums over the other index in order, in double — the CPU's sum, so the same bits. And the
 * c-transform of potentials at every point: half a warp per output, the f update's order. */
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

/* Threads for batch x rows outputs of `columns` values each, kColumns a thread. */
optk_status launch_shape(optk_context *ctx, const char *op, int64_t batch, int64_t rows,
                         int64_t columns, int64_t *groups, int64_t *work, unsigned *blocks) {
    *groups = (columns + kColumns - 1) / kColumns;
    *work = batch * rows * *groups;
    const int64_t count = (*work + kThreads - 1) / kThreads;
    if (count > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: %lld outputs are beyond one grid", op,
                         (long long)*work);
    }
    *blocks = (unsigned)count;
    return OPTK_OK;
}

} // namespace

extern "C" optk_status optk_cuda_plan_apply(optk_context *ctx, const optk_ot_view *view,
                                            int64_t batch, float eps, const float *f,
                                            const float *g, bool transpose, const float *v,
                                            int64_t k, float *out) {
    static const char op[] = "sinkhorn_apply";
    optk_status s = enter(ctx, op);
    int64_t groups = 0, work = 0;
    unsigned blocks = 0;
    if (s == OPTK_OK)
        s = launch_shape(ctx, op, batch, transpose ? view->m : view->n, k, &groups, &work, &blocks);
    if (s != OPTK_OK) return s;
    apply_kernel<<<blocks, kThreads, 0, stream_of(ctx)>>>(*view, work, groups, eps, f, g,
                                                          transpose ? 1 : 0, v, k, out);
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_plan_gradient(optk_context *ctx, const optk_ot_view *view,
                                               int64_t batch, float eps, const float *f,
                                               const float *g, bool transpose, float *out) {
    static const char op[] = "sinkhorn_gradient";
    optk_status s = enter(ctx, op);
    int64_t groups = 0, work = 0;
    unsigned blocks = 0;
    if (s == OPTK_OK) {
        s = launch_shape(ctx, op, batch, transpose ? view->m : view->n, view->dim, &groups, &work,
                         &blocks);
    }
    if (s != OPTK_OK) return s;
    gradient_kernel<<<blocks, kThreads, 0, stream_of(ctx)>>>(*view, work, groups, eps, f, g,
                                                             transpose ? 1 : 0, out);
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
