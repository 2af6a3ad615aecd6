/* curvature.c — the CPU side of the curvature helpers that are not element rules:
 * AdaHessian's block means and the strided copy that reads a matrix diagonal. */
#include "cpu_backend.h"
#include "../common/rule_curvature.h"

optk_status optk_cpu_abs_block_mean(optk_context *ctx, const float *z, const float *hz, float *out,
                                    int64_t numel, int64_t block) {
    (void)ctx;
    for (int64_t b = 0; b < numel / block; ++b)
        optk_abs_block_mean(z, hz, out, b, block);
    return OPTK_OK;
}

optk_status optk_cpu_strided_copy(optk_context *ctx, float *dst, const float *src, int64_t n,
                                  int64_t stride) {
    (void)ctx;
    for (int64_t i = 0; i < n; ++i)
        dst[i] = src[i * stride];
    return OPTK_OK;
}
