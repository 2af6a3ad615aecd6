/* ot_cost.cu — optk_ot_cost_fill on CUDA.
 *
 * Direct: a block computes a tile of 8 rows x 32 columns of one problem, the points' coordinates
 * staged through shared memory 32 at a time, each entry summed in coordinate order with fmaf —
 * optk_point_cost's arithmetic, so the CPU's bits.
 * GEMM: the squared norms of all points (a thread each, fmaf in coordinate order), then every
 * problem's cross terms -2 x y^T in one strided-batched cuBLAS SGEMM written straight into c,
 * then one pass adding the norms, clamping at 0 and taking the root for Euclidean costs. */
#include "cuda_check.cuh"
#include "../common/sinkhorn.h"

#include <cublas_v2.h>

using namespace optk_cuda;

namespace {

constexpr int kTileRows = 8, kTileCols = 32, kChunk = 32, kThreads = 256;

/* Grids are capped (gridDim.y and .z at 65535): blocks loop over the tiles and problems. */
constexpr unsigned kMaxGridYZ = 65535, kMaxBlocks = 1u << 20;

__global__ void __launch_bounds__(kTileRows *kTileCols)
    direct_kernel(const float *x, const float *y, int64_t batch, int64_t n, int64_t m, int64_t dim,
                  bool euclidean, float *c) {
    __shared__ float xs[kTileRows][kChunk];
    __shared__ float ys[kTileCols][kChunk + 1]; /* + 1: a column's reads hit distinct banks */
    const int tx = threadIdx.x, ty = threadIdx.y, t = ty * kTileCols + tx;
    const int64_t j0 = (int64_t)blockIdx.x * kTileCols, j = j0 + tx;
    const int64_t row_tiles = (n + kTileRows - 1) / kTileRows;
    /* Loop bounds are the block's, so every thread reaches every __syncthreads. */
    for (int64_t p = blockIdx.z; p < batch; p += gridDim.z) {
        const float *xp = x + p * n * dim, *yp = y + p * m * dim;
        for (int64_t tile = blockIdx.y; tile < row_tiles; tile += gridDim.y) {
            const int64_t i0 = tile * kTileRows, i = i0 + ty;
            float d2 = 0.0f;
            for (int64_t k0 = 0; k0 < dim; k0 += kChunk) {
                const int len = dim - k0 < kChunk ? (int)(dim - k0) : kChunk;
                /* Stage x rows i0.. (8 x len) and y rows j0.. (32 x len), coalesced along k. */
                for (int e = t; e < kTileRows * kChunk; e += kTileRows * kTileCols) {
                    const int r = e / kChunk, k = e % kChunk;
                    xs[r][k] = (i0 + r < n && k < len) ? xp[(i0 + r) * dim + k0 + k] : 0.0f;
                }
                for (int e = t; e < kTileCols * kChunk; e += kTileRows * kTileCols) {
                    const int r = e / kChunk, k = e % kChunk;
                    ys[r][k] = (j0 + r < m && k < len) ? yp[(j0 + r) * dim + k0 + k] : 0.0f;
                }
                __syncthreads();
                for (int k = 0; k < len; ++k) {
                    const float diff = xs[ty][k] - ys[tx][k];
                    d2 = fmaf(diff, diff, d2);
                }
                __syncthreads();
            }
            if (i < n && j < m) c[(p * n + i) * m + j] = euclidean ? sqrtf(d2) : d2;
        }
    }
}

/* |point|^2 for count points of dim coordinates, fmaf in coordinate order. */
__global__ void __launch_bounds__(kThreads)
    norms_kernel(const float *points, int64_t count, int64_t dim, float *out) {
    for (int64_t q = (int64_t)blockIdx.x * kThreads + threadIdx.x; q < count;
         q += (int64_t)gridDim.x * kThreads) {
        float s = 0.0f;
        for (int64_t k = 0; k < dim; ++k)
            s = fmaf(points[q * dim + k], points[q * dim + k], s);
        out[q] = s;
    }
}

/* c (holding -2 x_i . y_j) += |x_i|^2 + |y_j|^2, clamped at 0 (a NaN stays), rooted. */
__global__ void __launch_bounds__(kThreads)
    finish_kernel(const float *xnorm, const float *ynorm, int64_t batch, int64_t n, int64_t m,
                  bool euclidean, float *c) {
    for (int64_t e = (int64_t)blockIdx.x * kThreads + threadIdx.x; e < batch * n * m;
         e += (int64_t)gridDim.x * kThreads) {
        const int64_t row = e / m, p = row / n, j = e % m;
        float s = (xnorm[row] + ynorm[p * m + j]) + c[e];
        s = s < 0.0f ? 0.0f : s;
        c[e] = euclidean ? sqrtf(s) : s;
    }
}

/* Blocks of kThreads for a grid-stride loop over `work` items. */
unsigned capped_blocks(int64_t work) {
    const int64_t cap = (int64_t)kMaxBlocks * kThreads;
    return blocks_for(work < cap ? work : cap, kThreads);
}

optk_status fill_direct(optk_context *ctx, const optk_ot_view *v, int64_t batch, float *c) {
    const dim3 threads(kTileCols, kTileRows);
    const unsigned row_tiles = blocks_for(v->n, kTileRows);
    const dim3 grid(blocks_for(v->m, kTileCols), row_tiles < kMaxGridYZ ? row_tiles : kMaxGridYZ,
                    batch < kMaxGridYZ ? (unsigned)batch : kMaxGridYZ);
    direct_kernel<<<grid, threads, 0, stream_of(ctx)>>>(v->x, v->y, batch, v->n, v->m, v->dim,
                                                        v->cost == 2, c);
    return check_launch(ctx, "ot_cost_fill");
}

optk_status fill_gemm(optk_context *ctx, const optk_ot_view *v, int64_t batch, float *c) {
    static const char op[] = "ot_cost_fill";
    const int64_t n = v->n, m = v->m, dim = v->dim;
    void *scratch = nullptr;
    optk_status s = optk_cuda_workspace(ctx, (size_t)(batch * (n + m)) * sizeof(float), &scratch);
    if (s != OPTK_OK) return s;
    float *xnorm = static_cast<float *>(scratch), *ynorm = xnorm + batch * n;
    norms_kernel<<<capped_blocks(batch * n), kThreads, 0, stream_of(ctx)>>>(v->x, batch * n, dim,
                                                                            xnorm);
    norms_kernel<<<capped_blocks(batch * m), kThreads, 0, stream_of(ctx)>>>(v->y, batch * m, dim,
                                                                            ynorm);
    if ((s = check_launch(ctx, op)) != OPTK_OK) return s;
    void *cublas = nullptr;
    if ((s = optk_cuda_cublas(ctx, op, &cublas)) != OPTK_OK) return s;
    /* Row-major C_p (n x m) = -2 X_p Y_p^T is column-major C_p^T (m x n) = -2 Y_p X_p^T: with
     * both point sets column-major dim x count (ld dim), that is op(A) = A^T for A = Y_p. */
    const float alpha = -2.0f, beta = 0.0f;
    const cublasStatus_t st = cublasSgemmStridedBatched(
        static_cast<cublasHandle_t>(cublas), CUBLAS_OP_T, CUBLAS_OP_N, (int)m, (int)n, (int)dim,
        &alpha, v->y, (int)dim, (long long)(m * dim), v->x, (int)dim, (long long)(n * dim), &beta,
        c, (int)m, (long long)(n * m), (int)batch);
    if (st != CUBLAS_STATUS_SUCCESS) {
        return optk_fail(ctx, OPTK_ERR_DEVICE, "%s: cublasSgemmStridedBatched failed: %s", op,
                         cublasGetStatusString(st));
    }
    finish_kernel<<<capped_blocks(batch * n * m), kThreads, 0, stream_of(ctx)>>>(
        xnorm, ynorm, batch, n, m, v->cost == 2, c);
    return check_launch(ctx, op);
}

} // namespace

extern "C" optk_status optk_cuda_ot_cost_fill(optk_context *ctx, const optk_ot_view *view,
                                              int64_t batch, bool gemm, float *c) {
    optk_status s = enter(ctx, "ot_cost_fill");
    if (s != OPTK_OK) return s;
    return gemm ? fill_gemm(ctx, view, batch, c) : fill_direct(ctx, view, batch, c);
}
