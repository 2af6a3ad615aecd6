/* sinkhorn_team.cuh — the blocks that hold one problem of the on-chip Sinkhorn solver
 * (sinkhorn_fused.cu) and where its data lie in their shared memory.
 *
 * A team is one block, or on sm_90 and later a thread-block cluster of 2, 4 or 8 blocks when
 * one block's shared memory cannot hold the problem. In a cluster each block keeps a slice of
 * the cost — rows [rank R, rank R + R) of a dense cost, or those rows' x and columns
 * [rank Cc, rank Cc + Cc)'s y — and a full copy of the weights, potentials and scalings; the
 * blocks read each other's slices through distributed shared memory, every value a block
 * computes is written into every block's copy, and a cluster barrier separates the phases.
 * The arithmetic, and its order, is the single block's: the cluster changes where the data
 * lie, not the bits.
 */
#ifndef OPTK_CUDA_SINKHORN_TEAM_CUH
#define OPTK_CUDA_SINKHORN_TEAM_CUH

#include "sinkhorn_kernels.cuh"

#include <cooperative_groups.h>

namespace optk_cuda {
namespace sinkhorn {

constexpr int kMostTeamBlocks = 8; /* the portable cluster size */

template <bool kCluster> struct Team;

/* One block: its own shared memory, __syncthreads. */
template <> struct Team<false> {
    __device__ unsigned rank() const { return 0; }
    __device__ unsigned size() const { return 1; }
    __device__ void sync() const { __syncthreads(); }
    template <class T> __device__ T *of(T *local, unsigned) const { return local; }
};

/* A cluster: block q's copy of a shared-memory address, the cluster barrier. Only launched on
 * sm_90 and later (fused_blocks checks the kernel's binary), so other targets compile a trap. */
template <> struct Team<true> {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    __device__ unsigned rank() const {
        return cooperative_groups::this_cluster().block_rank();
    }
    __device__ unsigned size() const {
        return cooperative_groups::this_cluster().num_blocks();
    }
    __device__ void sync() const {
        cooperative_groups::this_cluster().sync();
    }
    template <class T> __device__ T *of(T *local, unsigned q) const {
        return cooperative_groups::this_cluster().map_shared_rank(local, q);
    }
#else
    __device__ unsigned rank() const {
        __trap();
        return 0;
    }
    __device__ unsigned size() const {
        __trap();
        return 1;
    }
    __device__ void sync() const {
        __trap();
    }
    template <class T> __device__ T *of(T *local, unsigned) const {
        __trap();
        return local;
    }
#endif
};

/* Where a team block's data lie in its dynamic shared memory (byte offsets), the same in
 * every block of the team: the reduction's doubles; in a cluster the column error terms and
 * the tables of row and column addresses; then the floats a, f, u (n), b, g, g_next, v (m);
 * then the block's slice of the cost or points. One block holds every row and column. */
struct Layout {
    int64_t rows_per, cols_per; /* of a block's slice */
    size_t terms, row_table, col_table, floats, slice, bytes;
};

__host__ __device__ inline Layout layout_of(const optk_ot_view &v, int blocks) {
    Layout l;
    const bool split = blocks > 1;
    const size_t n = (size_t)v.n, m = (size_t)v.m, dim = (size_t)v.dim;
    l.rows_per = (v.n + blocks - 1) / blocks;
    l.cols_per = (v.m + blocks - 1) / blocks;
    size_t at = kThreads * sizeof(double);
    l.terms = at;
    at += split ? m * sizeof(double) : 0;
    l.row_table = at;
    at += split ? n * sizeof(const float *) : 0;
    l.col_table = at;
    at += split && v.cost != 0 ? m * sizeof(const float *) : 0;
    l.floats = at;
    at += (3 * n + 4 * m) * sizeof(float);
    l.slice = at;
    const size_t rows = (size_t)l.rows_per, cols = (size_t)l.cols_per;
    at += (v.cost == 0 ? rows * m : (rows + cols) * dim) * sizeof(float);
    l.bytes = at;
    return l;
}

/* C_ij of a problem spread over a cluster: through the tables of row (dense: C's row i;
 * points: x_i) and column (y_j) addresses, in whichever block they lie. */
struct TableCost {
    const float *const *rows, *const *cols;
    int64_t dim;
    int kind; /* optk_ot_cost */
    __device__ float operator()(int64_t i, int64_t j) const {
        return kind == 0 ? rows[i][j] : optk_point_cost(rows[i], cols[j], dim, kind);
    }
};

} // namespace sinkhorn
} // namespace optk_cuda

#endif /* OPTK_CUDA_SINKHORN_TEAM_CUH */
