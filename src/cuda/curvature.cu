/* curvature.cu — the CUDA side of the curvature helpers that are not element rules:
 * AdaHessian's block means (one thread per block, the shared per-block function, so the sum
 * runs in the CPU's order) and the strided copy that reads a matrix diagonal (one 2-D copy
 * on the stream). */
#include "cuda_check.cuh"
#include "../common/rule_curvature.h"

using namespace optk_cuda;

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    block_mean_kernel(const float *z, const float *hz, float *out, int64_t blocks, int64_t block) {
    const int64_t b = (int64_t)blockIdx.x * kThreads + threadIdx.x;
    if (b < blocks) optk_abs_block_mean(z, hz, out, b, block);
}

} // namespace

extern "C" optk_status optk_cuda_abs_block_mean(optk_context *ctx, const float *z, const float *hz,
                                                float *out, int64_t numel, int64_t block) {
    static const char op[] = "curvature_update";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    const int64_t blocks = numel / block;
    const unsigned grid = blocks_for(blocks, kThreads);
    block_mean_kernel<<<grid, kThreads, 0, stream_of(ctx)>>>(z, hz, out, blocks, block);
    return check_launch(ctx, op);
}

extern "C" optk_status optk_cuda_strided_copy(optk_context *ctx, float *dst, const float *src,
                                              int64_t n, int64_t stride) {
    static const char op[] = "hessian_diag_exact";
    optk_status s = enter(ctx, op);
    if (s != OPTK_OK) return s;
    /* n rows of one float: source rows `stride` floats apart, destination rows adjacent. */
    const cudaError_t err =
        cudaMemcpy2DAsync(dst, sizeof(float), src, (size_t)stride * sizeof(float), sizeof(float),
                          (size_t)n, cudaMemcpyDeviceToDevice, stream_of(ctx));
    return err == cudaSuccess ? OPTK_OK : fail(ctx, err, op, "cudaMemcpy2DAsync");
}
