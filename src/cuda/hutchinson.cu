/* hutchinson.cu — the CUDA side of Hutchinson's estimator: H Z for a dense symmetric H as one
 * cuBLAS SGEMM per chunk of probes (the context's handle, on its stream), and the shared
 * per-coordinate sums, one thread per coordinate looping over the probes in order. */
#include "cuda_check.cuh"

#include <cublas_v2.h>

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

/* One thread per coordinate, the probes in order (the CPU's order). */
__global__ void __launch_bounds__(kThreads)
    accumulate_kernel(const float *z, const float *hz, int64_t n, int k, double *acc,
                      optk_diag_pass pass) {
    const int64_t i = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (i >= n) return;
    double sum = 0.0, sum_sq = 0.0, zz = 0.0;
    if (!pass.first) sum = acc[i], sum_sq = acc[n + i], zz = acc[2 * n + i];
    for (int j = 0; j < k; ++j) {
        optk_diag_accumulate(&sum, &sum_sq, &zz, z[(int64_t)j * n + i], hz[(int64_t)j * n + i]);
    }
    if (pass.last) {
        optk_diag_estimate(sum, sum_sq, zz, pass.probes, pass.bekas, pass.diag + i,
                           pass.variance ? pass.variance + i : nullptr);
    } else {
        acc[i] = sum;
        acc[n + i] = sum_sq;
        acc[2 * n + i] = zz;
    }
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
                                                 int64_t n, int k, double *acc,
                                                 const optk_diag_pass *pass) {
    static const char op[] = "hessian_diag";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    accumulate_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream_of(ctx)>>>(z, hz, n, k, acc,
                                                                                *pass);
    return check_launch(ctx, op);
}
