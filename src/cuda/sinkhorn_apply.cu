/* sinkhorn_apply.cu — P v without P on CUDA: a thread per (problem, output row, group of
 * kColumns output columns) sums over the other index in order, in double — the CPU's sum,
 * so the same bits. */
#include "cuda_check.cuh"

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

} // namespace

extern "C" optk_status optk_cuda_plan_apply(optk_context *ctx, const optk_ot_view *view,
                                            int64_t batch, float eps, const float *f,
                                            const float *g, bool transpose, const float *v,
                                            int64_t k, float *out) {
    static const char op[] = "sinkhorn_apply";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t groups = (k + kColumns - 1) / kColumns;
    const int64_t work = batch * (transpose ? view->m : view->n) * groups;
    const int64_t blocks = (work + kThreads - 1) / kThreads;
    if (blocks > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: %lld outputs are beyond one grid", op,
                         (long long)work);
    }
    apply_kernel<<<(unsigned)blocks, kThreads, 0, stream_of(ctx)>>>(*view, work, groups, eps, f, g,
                                                                    transpose ? 1 : 0, v, k, out);
    return check_launch(ctx, op);
}
