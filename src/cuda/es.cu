/* es.cu — EGGROLL on CUDA: noise from cuRAND's Philox (device API: curand_init at the word's
 * block, curand4) through the shared normal transform, so the factors are the CPU's bits;
 * row-major SGEMMs through cuBLAS; the low-rank correction fused in one kernel per member
 * that regenerates its pair's factors into shared memory (nothing of size members x (m + n)
 * r is ever stored); the bias and its noise. */
#include "cuda_check.cuh"

#include <climits>
#include <cublas_v2.h>
#include <curand_kernel.h>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

/* The four words of Philox block `block` of stream (seed, sub), as cuRAND's device API
 * gives them. */
__device__ inline uint4 philox_block(uint64_t seed, uint64_t sub, uint64_t block) {
    curandStatePhilox4_32_10_t state;
    curand_init(seed, sub, block * 4, &state);
    return curand4(&state);
}

/* Thread t: Philox block (first_block + t % blocks_per_pair) of pair first + t / blocks_per_pair,
 * its words mapped to out as es_fill says. */
__global__ void __launch_bounds__(kThreads)
    fill_kernel(uint64_t seed, uint64_t generation, uint32_t layer, int64_t first_pair,
                int64_t count, int64_t rows, int64_t cols, int64_t offset, int64_t pair_stride,
                int64_t row_stride, const float *coef, float *out, int64_t blocks_per_pair) {
    const int64_t t = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (t >= count * blocks_per_pair) return;
    const int64_t c = t / blocks_per_pair;
    const int64_t block = offset / 4 + t % blocks_per_pair;
    const uint4 r =
        philox_block(seed, optk_es_subsequence(generation, layer, first_pair + c), (uint64_t)block);
    const uint32_t words[4] = {r.x, r.y, r.z, r.w};
    const float scale = coef ? coef[c] : 1.0f;
    for (int w = 0; w < 4; ++w) {
        const int64_t e = block * 4 + w - offset; /* element index within the pair's span */
        if (e < 0 || e >= rows * cols) continue;
        const float z = optk_normal_from_word(words[w]);
        out[c * pair_stride + (e / cols) * row_stride + e % cols] = coef ? scale * z : z;
    }
}

/* One block per member: its pair's factors into shared memory (A then B, the stream's own
 * layout), U = scale s_i X_i B (a thread per (row, k), j in order), then Y_i += U A^T (a
 * thread per output), the CPU's arithmetic in the CPU's order. */
__global__ void __launch_bounds__(kThreads)
    lowrank_kernel(uint64_t seed, uint64_t generation, uint32_t layer, int64_t m, int64_t n, int r,
                   float scale, int64_t batch, const float *X, float *Y) {
    extern __shared__ float shared[];
    float *A = shared, *B = A + m * r, *U = B + n * r;
    const int64_t i = blockIdx.x, pair = i / 2;
    const uint64_t sub = optk_es_subsequence(generation, layer, pair);
    const int64_t words = (m + n) * r;
    for (int64_t block = threadIdx.x; block * 4 < words; block += kThreads) {
        const uint4 q = philox_block(seed, sub, (uint64_t)block);
        const uint32_t w4[4] = {q.x, q.y, q.z, q.w};
        for (int w = 0; w < 4 && block * 4 + w < words; ++w)
            shared[block * 4 + w] = optk_normal_from_word(w4[w]);
    }
    __syncthreads();
    const float coef = scale * optk_es_sign(i);
    const float *x = X + i * batch * n;
    for (int64_t t = threadIdx.x; t < batch * r; t += kThreads) {
        const int64_t b = t / r, k = t % r;
        float u = 0.0f;
        for (int64_t j = 0; j < n; ++j)
            u = fmaf(x[b * n + j], B[j * r + k], u);
        U[t] = coef * u;
    }
    __syncthreads();
    float *y = Y + i * batch * m;
    for (int64_t t = threadIdx.x; t < batch * m; t += kThreads) {
        const int64_t b = t / m, o = t % m;
        float add = 0.0f;
        for (int k = 0; k < r; ++k)
            add = fmaf(U[b * r + k], A[o * r + k], add);
        y[t] += add;
    }
}

/* A thread per element of Y: += bias + sigma s_i e_p[o]. */
__global__ void __launch_bounds__(kThreads)
    bias_kernel(uint64_t seed, uint64_t generation, uint32_t layer, int64_t m, float sigma,
                int64_t members, int64_t batch, const float *bias, float *Y) {
    const int64_t t = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (t >= members * batch * m) return;
    const int64_t o = t % m, i = t / m / batch;
    const uint4 q =
        philox_block(seed, optk_es_subsequence(generation, layer, i / 2), (uint64_t)(o / 4));
    const uint32_t w4[4] = {q.x, q.y, q.z, q.w};
    const float e = optk_normal_from_word(w4[o % 4]);
    Y[t] += fmaf(sigma * optk_es_sign(i), e, bias[o]);
}

} // namespace

extern "C" optk_status optk_cuda_es_fill(optk_context *ctx, uint64_t seed, uint64_t generation,
                                         uint32_t layer, int64_t first_pair, int64_t count,
                                         int64_t rows, int64_t cols, int64_t offset,
                                         int64_t pair_stride, int64_t row_stride, const float *coef,
                                         float *out) {
    static const char op[] = "es_noise";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t first_block = offset / 4, last_block = (offset + rows * cols - 1) / 4;
    const int64_t blocks_per_pair = last_block - first_block + 1;
    const int64_t work = count * blocks_per_pair;
    if ((work + kThreads - 1) / kThreads > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: %lld noise blocks are beyond one grid", op,
                         (long long)work);
    }
    fill_kernel<<<blocks_for(work, kThreads), kThreads, 0, stream_of(ctx)>>>(
        seed, generation, layer, first_pair, count, rows, cols, offset, pair_stride, row_stride,
        coef, out, blocks_per_pair);
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_gemm(optk_context *ctx, bool trans_b, int64_t M, int64_t N,
                                      int64_t K, float alpha, const float *A, int64_t lda,
                                      const float *B, int64_t ldb, float beta, float *C,
                                      int64_t ldc) {
    static const char op[] = "gemm";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX || lda > INT_MAX || ldb > INT_MAX ||
        ldc > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: a dimension is beyond 2^31 - 1", op);
    }
    void *cublas = nullptr;
    if ((s = optk_cuda_cublas(ctx, op, &cublas)) != OPTK_OK) return s;
    /* Row-major C = A op(B) is column-major C^T = op(B)^T A^T: cuBLAS gets B first. */
    const cublasStatus_t st = cublasSgemm(
        static_cast<cublasHandle_t>(cublas), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N,
        (int)N, (int)M, (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta, C, (int)ldc);
    if (st != CUBLAS_STATUS_SUCCESS) {
        return optk_fail(ctx, OPTK_ERR_DEVICE, "%s: cublasSgemm failed: %s", op,
                         cublasGetStatusString(st));
    }
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_es_lowrank_add(optk_context *ctx, uint64_t seed,
                                                uint64_t generation, uint32_t layer, int64_t m,
                                                int64_t n, int rank, float scale, int64_t members,
                                                int64_t batch, const float *X, float *Y) {
    static const char op[] = "es_forward";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const size_t bytes = (size_t)((m + n + batch) * rank) * sizeof(float);
    const size_t most = static_cast<const optk_cuda_state *>(ctx->backend_data)->shared_optin;
    if (bytes > most || members > INT_MAX) {
        return optk_fail(
            ctx, OPTK_ERR_UNSUPPORTED,
            "%s: (m + n + batch) rank = %zu bytes of factors exceed a block's %zu bytes "
            "of shared memory",
            op, bytes, most);
    }
    const cudaError_t err = cudaFuncSetAttribute(
        lowrank_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    if (err != cudaSuccess) return fail(ctx, err, op, "cudaFuncSetAttribute");
    lowrank_kernel<<<(unsigned)members, kThreads, bytes, stream_of(ctx)>>>(
        seed, generation, layer, m, n, rank, scale, batch, X, Y);
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_es_bias_add(optk_context *ctx, uint64_t seed, uint64_t generation,
                                             uint32_t layer, int64_t m, float sigma,
                                             int64_t members, int64_t batch, const float *bias,
                                             float *Y) {
    static const char op[] = "es_forward";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t work = members * batch * m;
    if ((work + kThreads - 1) / kThreads > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_UNSUPPORTED, "%s: Y is beyond one grid", op);
    }
    bias_kernel<<<blocks_for(work, kThreads), kThreads, 0, stream_of(ctx)>>>(
        seed, generation, layer, m, sigma, members, batch, bias, Y);
    return check_launch(ctx, op);
}
