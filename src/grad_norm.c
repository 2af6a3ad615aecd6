/* grad_norm.c — the global L2 norm of a tensor list's gradients: argument checks, then the
 * backend's deterministic double-precision sum of squares. */
#include "optim_check.h"

#include <math.h>

optk_status optk_grad_norm(optk_context *ctx, const optk_param_tensor *tensors, int count,
                           double *norm) {
    static const char op[] = "grad_norm";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (!norm) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: norm is NULL", op);
    optk_status s = optk_check_param_tensors(ctx, op, tensors, count, 0, true);
    double sum = 0.0;
    if (s == OPTK_OK) s = ctx->ops->grad_sum_squares(ctx, tensors, count, &sum);
    if (s == OPTK_OK) *norm = sqrt(sum);
    return s;
}
