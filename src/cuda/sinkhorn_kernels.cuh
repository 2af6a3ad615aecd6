/* sinkhorn_kernels.cuh — what the two CUDA Sinkhorn solvers share: the launch shape, the
 * fixed-order reductions (so that both give the same bits), and the on-chip solver's entry
 * points (sinkhorn_fused.cu). */
#ifndef OPTK_CUDA_SINKHORN_KERNELS_CUH
#define OPTK_CUDA_SINKHORN_KERNELS_CUH

#include "cuda_check.cuh"

namespace optk_cuda {
namespace sinkhorn {

constexpr int kThreads = 256;
constexpr int kWarps = 8;                          /* warps per block of the f update */
constexpr int kLseLanes = OPTK_SINKHORN_LSE_LANES; /* a row's lanes in the f update */
constexpr int kRowsPerWarp = 32 / kLseLanes;       /* rows a warp's f update takes at once */
static_assert(kThreads == OPTK_SINKHORN_PARTIALS, "a block's threads are the fixed partials");
static_assert(32 % kLseLanes == 0, "a row's lanes split a warp evenly");

/* A log-sum-exp merged across each group of kLseLanes lanes of a warp (lanes [k kLseLanes,
 * (k + 1) kLseLanes): one row each) in a fixed tree, the group's first lane holding it:
 * optk_lse_tree's order. Every lane of the warp must call it (the shuffles name them all). */
__device__ inline optk_lse row_merge(optk_lse l, float eps) {
#pragma unroll
    for (int offset = kLseLanes / 2; offset > 0; offset /= 2) {
        optk_lse other;
        other.max = __shfl_down_sync(0xffffffffu, l.max, offset, kLseLanes);
        other.sum = __shfl_down_sync(0xffffffffu, l.sum, offset, kLseLanes);
        l = optk_lse_merge(l, other, eps);
    }
    return l;
}

/* Visits s = first, first + stride, ... below count in that order (a column's rows: stride
 * 1; a lane's columns: stride kLseLanes or 32): use(load(s)), kAhead indices at a time with every
 * load of the group issued before the first use (8 for global memory; on-chip data, whose latency
 * is short, needs fewer, and the registers are scarcer there). Written plainly, a load behind a
 * test (a zero weight's skip) could not be hoisted above the previous use, so a thread had one cost
 * load in flight and a large dense column was latency-bound. The order of the uses, and so every
 * bit, is the plain loop's. */
template <int kAhead = 8, class Load, class Use>
__device__ inline void visit_in_order(int64_t first, int64_t count, int64_t stride,
                                      const Load &load, const Use &use) {
    using Loaded = decltype(load(first));
    int64_t s = first;
    for (; s + (kAhead - 1) * stride < count; s += kAhead * stride) {
        Loaded got[kAhead];
#pragma unroll
        for (int k = 0; k < kAhead; ++k)
            got[k] = load(s + k * stride);
#pragma unroll
        for (int k = 0; k < kAhead; ++k)
            use(got[k]);
    }
    for (; s < count; s += stride)
        use(load(s));
}

/* Pushes pot[s] - cost_of(s) into *l over visit_in_order's indices, skipping zero weights. */
template <int kAhead = 8, class CostOf>
__device__ inline void lse_push_in_order(optk_lse *l, int64_t first, int64_t count, int64_t stride,
                                         const float *weight, const float *pot,
                                         const CostOf &cost_of, float eps) {
    struct Term {
        float v;
        bool keep;
    };
    visit_in_order<kAhead>(
        first, count, stride,
        [&](int64_t s) {
            return Term{pot[s] - cost_of(s), weight[s] != 0.0f};
        },
        [&](const Term &t) {
            if (t.keep) optk_lse_push(l, t.v, eps);
        });
}

/* A double summed across the 32 lanes of a warp in a fixed tree (lane 0 holds it):
 * optk_sum_lanes's order. */
__device__ inline double warp_sum(double x) {
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
        x += __shfl_down_sync(0xffffffffu, x, offset);
    return x;
}

/* C_ij of problem p of a view: its cost in global memory, or a block's on-chip copy (p 0). */
struct ViewCost {
    optk_ot_view v;
    int64_t p;
    __device__ float operator()(int64_t i, int64_t j) const { return optk_ot_cost_at(&v, p, i, j); }
};

/* A kernel-domain column scaling (common/sinkhorn.h): v_j = b_j / sum_i K_ij u_i over the n
 * rows in index order, K_ij recomputed from the potentials (the same floats the CPU stores).
 * cost(i, j) gives C_ij; f, u and a are the problem's. Sets *unsafe. */
template <int kAhead = 8, class Cost>
__device__ inline float kernel_column(const Cost &cost, int64_t n, int64_t j, const float *a,
                                      const float *f, float gj, const float *u, float bj, float eps,
                                      float tau, int *unsafe) {
    double sum = 0.0;
    visit_in_order<kAhead>(
        0, n, 1,
        [&](int64_t i) {
            return float4{a[i], f[i], u[i], cost(i, j)};
        },
        [&](const float4 &r) { sum += (double)optk_kernel_entry(r.x, r.y, gj, r.w, eps) * r.z; });
    return optk_scaling_tau(bj, sum, tau, gj, eps, unsafe);
}

/* A kernel-domain row sum over a warp's lanes, column j of m in lane j % 32 (lane 0 gets the
 * total): sum_j K_ij v_j. */
template <int kAhead = 8, class Cost>
__device__ inline double kernel_row_sum(const Cost &cost, int64_t m, int64_t i, float ai, float fi,
                                        const float *g, const float *vs, int lane, float eps) {
    double sum = 0.0;
    visit_in_order<kAhead>(
        lane, m, 32,
        [&](int64_t j) {
            return float4{g[j], vs[j], cost(i, j), 0.0f};
        },
        [&](const float4 &r) { sum += (double)optk_kernel_entry(ai, fi, r.x, r.z, eps) * r.y; });
    return warp_sum(sum);
}

/* Sum of one double per thread over a block of kThreads, in a fixed tree (thread 0 has it):
 * optk_sum_tree's order.
 * shared: kThreads doubles. Every thread must call it. */
__device__ inline double block_sum(double x, double *shared) {
    shared[threadIdx.x] = x;
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
        if ((int)threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    const double total = shared[0];
    __syncthreads();
    return total;
}

/* The on-chip solver (sinkhorn_fused.cu): how many blocks hold each of a job's problems (1,
 * a thread-block cluster of 2, 4 or 8 on sm_90 and later unless the job's placement is
 * ONE_BLOCK, or 0: not on-chip), and the solve with that many. */
int fused_blocks(optk_context *ctx, const optk_sinkhorn_job *job);
optk_status solve_fused(optk_context *ctx, const optk_sinkhorn_job *job, int blocks);

} // namespace sinkhorn
} // namespace optk_cuda

#endif /* OPTK_CUDA_SINKHORN_KERNELS_CUH */
