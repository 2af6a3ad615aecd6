/* hutchinson.cu — the CUDA side of Hutchinson's estimator: H Z for a dense symmetric H as one
 * cuBLAS SGEMM per chunk of probes (the context's handle, on its stream), and the shared
 * per-coordinate sums, one thread per coordinate looping over the probes in order. */
#include "cuda_check.cuh"
#include "../common/hutchinson.h"

#include <cublas_v2.h>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    accumulate_kernel(const float *z, const float *hz, int64_t n, int k, double *acc) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i >= n) return;
    double sum = acc[i], sum_sq = acc[n + i], zz = acc[2 * n + i];
    for (int j = 0; j < k; ++j) {
        optk_diag_accumulate(&sum, &sum_sq, &zz, z[(int64_t)j * n + i], hz[(int64_t)j * n + i]);
    }
    acc[i] = sum;
    acc[n + i] = sum_sq;
    acc[2 * n + i] = zz;
}

__global__ void __launch_bounds__(kThreads)
    finish_kernel(const double *acc, int64_t n, int k, int bekas, float *diag, float *variance) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i < n) optk_diag_finish(acc, n, i, k, bekas, diag, variance);
}

} // namespace

extern "C" optk_status optk_cuda_dense_hvp(optk_context *ctx, const float *h, const float *z,
                                           float *hz, int64_t n, int k) {
    static const char op[] = "hessian_diag";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    void *cublas = nullptr;
    if ((s = optk_cuda_cublas(ctx, op, &cublas)) != OPTK_OK) return s;
    cublasHandle_t handle = static_cast<cublasHandle_t>(cublas);
    const float one = 1.0f, zero = 0.0f;
    /* Column-major HZ (n x k) = H (n x n, symmetric: either layout) Z (n x k). */
    const cublasStatus_t st = cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, k, (int)n, &one,
                                          h, (int)n, z, (int)n, &zero, hz, (int)n);
    if (st != CUBLAS_STATUS_SUCCESS) {
        return optk_fail(ctx, OPTK_ERR_DEVICE, "%s: cublasSgemm failed: %s", op,
                         cublasGetStatusString(st));
    }
    return OPTK_OK;
}

extern "C" optk_status optk_cuda_diag_accumulate(optk_context *ctx, const float *z, const float *hz,
                                                 int64_t n, int k, double *acc) {
    static const char op[] = "hessian_diag";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    accumulate_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(z, hz, n, k, acc);
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_diag_finish(optk_context *ctx, const double *acc, int64_t n, int k,
                                             bool bekas, float *diag, float *variance) {
    static const char op[] = "hessian_diag";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    finish_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(
        acc, n, k, bekas ? 1 : 0, diag, variance);
    return check_launch(ctx, op);
}
