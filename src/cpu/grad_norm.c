/* grad_norm.c — the sum of squares of every gradient on the CPU, in double, in a fixed order:
 * eight interleaved partial sums per tensor (so the loop vectorises), combined as a fixed
 * tree, then the tensors in list order. */
#include "cpu_backend.h"
#include "multi_tensor.h"

OPTK_CPU_HOT_LOOP static double sum_squares_f32(const float *restrict g, int64_t n) {
    double lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; ++l) {
            const double v = (double)g[i + l];
            lanes[l] += v * v;
        }
    }
    double tail = 0.0;
    for (; i < n; ++i)
        tail += (double)g[i] * (double)g[i];
    return (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
            ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))) +
           tail;
}

/* bf16/fp16 gradients: the same fixed order, one element at a time. */
static double sum_squares_half(const void *g, int64_t n, optk_dtype dtype) {
    double lanes[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int l = 0; l < 8; ++l) {
            const double v = (double)optk_cpu_load_half(g, i + l, dtype);
            lanes[l] += v * v;
        }
    }
    double tail = 0.0;
    for (; i < n; ++i) {
        const double v = (double)optk_cpu_load_half(g, i, dtype);
        tail += v * v;
    }
    return (((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
            ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))) +
           tail;
}

optk_status optk_cpu_grad_sum_squares(optk_context *ctx, const optk_param_tensor *tensors,
                                      int count, optk_dtype grad_dtype, double *out) {
    (void)ctx;
    double sum = 0.0;
    for (int t = 0; t < count; ++t) {
        const optk_param_tensor *x = &tensors[t];
        sum += grad_dtype == OPTK_F32 ? sum_squares_f32(x->grad, x->numel)
                                      : sum_squares_half(x->grad, x->numel, grad_dtype);
    }
    *out = sum;
    return OPTK_OK;
}

optk_status optk_cpu_grad_sum_squares_to(optk_context *ctx, const optk_param_tensor *tensors,
                                         int count, optk_dtype grad_dtype, double *out,
                                         double *partials) {
    (void)partials; /* host memory is the backend's: the sum goes straight to out */
    return optk_cpu_grad_sum_squares(ctx, tensors, count, grad_dtype, out);
}
