/* grad_norm.c — the global L2 norm of a tensor list's gradients: argument checks, then the
 * backend's deterministic double-precision sum of squares. */
#include "optim_check.h"

#include <math.h>

optk_status optk_grad_norm(optk_context *ctx, const optk_param_tensor *tensors, int count,
                           optk_dtype grad_dtype, double *norm) {
    static const char op[] = "grad_norm";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!norm) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: norm is NULL", op);
    if (grad_dtype != OPTK_F32 && grad_dtype != OPTK_BF16 && grad_dtype != OPTK_F16) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown grad_dtype %d", op,
                         (int)grad_dtype);
    }
    const optk_tensor_checks checks = {0,   false, true, OPTK_F32, grad_dtype, OPTK_MASTER_IGNORED,
                                       NULL};
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, &checks);
    double sum = 0.0;
    if (s == OPTK_OK) s = ctx->ops->grad_sum_squares(ctx, tensors, count, grad_dtype, &sum);
    if (s == OPTK_OK) *norm = sqrt(sum);
    return s;
}
