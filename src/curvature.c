/* curvature.c — the fused curvature updates of Sophia (h) and AdaHessian (D): argument
 * checks, then one element rule of the multi-tensor machinery over every tensor (the
 * curvature as its "parameter", H z as its "gradient", the probe as a read-only state), and
 * the backend's block means for AdaHessian tensors that average. Also the exact diagonal of a
 * dense matrix, which estimates are validated against. */
#include "optim_check.h"

#include <limits.h>
#include <stdlib.h>

static const char *const role_names[3 + OPTK_MAX_STATE] = {"curvature", "hz",       "master",  "z",
                                                           "state[1]",  "state[2]", "state[3]"};

static bool is_sophia(optk_curvature_kind kind) {
    return kind == OPTK_CURVATURE_SOPHIA_H || kind == OPTK_CURVATURE_SOPHIA_GNB;
}

static optk_status check_tensor(optk_context *ctx, const char *op, optk_curvature_kind kind,
                                const optk_curvature_tensor *x, int t, bool with_z) {
    if (!x->z != !with_z) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: tensors[%d].z is %s but tensors[0].z is %s: give z for every "
                         "tensor or for none",
                         op, t, x->z ? "set" : "NULL", with_z ? "set" : "NULL");
    }
    if (is_sophia(kind) && x->block > 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: tensors[%d].block must be 0 or 1 for Sophia, got %lld", op, t,
                         (long long)x->block);
    }
    if (x->block < 0 || (x->block > 1 && x->numel % x->block != 0)) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: tensors[%d].block must be >= 0 and divide numel (%lld), got %lld", op,
                         t, (long long)x->numel, (long long)x->block);
    }
    return OPTK_OK;
}

static optk_status check(optk_context *ctx, const char *op, optk_curvature_kind kind, double beta2,
                         const optk_curvature_tensor *tensors, int count) {
    if (kind != OPTK_CURVATURE_SOPHIA_H && kind != OPTK_CURVATURE_SOPHIA_GNB &&
        kind != OPTK_CURVATURE_ADAHESSIAN) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: unknown kind %d", op, (int)kind);
    }
    optk_status s = optk_check_hparam(ctx, op, "beta2", beta2, 0.0, 1.0, true);
    if (s != OPTK_OK) return s;
    if (count < 1) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: count must be >= 1, got %d", op,
                         count);
    }
    if (!tensors) return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: tensors is NULL", op);
    const bool with_z = tensors[0].z != NULL;
    if (kind == OPTK_CURVATURE_SOPHIA_GNB && with_z) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT,
                         "%s: Sophia GNB squares hz (the sampled-label gradient): z must be NULL",
                         op);
    }
    for (int t = 0; t < count && s == OPTK_OK; ++t)
        s = check_tensor(ctx, op, kind, &tensors[t], t, with_z);
    return s;
}

/* The element rule of a kind: with or without the probe. */
static optk_element_rule rule_of(optk_curvature_kind kind, bool with_z) {
    switch (kind) {
    case OPTK_CURVATURE_SOPHIA_GNB:
        return OPTK_ELEMENT_EMA_SQUARE;
    case OPTK_CURVATURE_ADAHESSIAN:
        return with_z ? OPTK_ELEMENT_ABS_PRODUCT : OPTK_ELEMENT_ABS;
    case OPTK_CURVATURE_SOPHIA_H:
    default:
        return with_z ? OPTK_ELEMENT_EMA_PRODUCT : OPTK_ELEMENT_EMA;
    }
}

optk_status optk_curvature_update(optk_context *ctx, optk_curvature_kind kind, double beta2,
                                  const optk_curvature_tensor *tensors, int count) {
    static const char op[] = "curvature_update";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    optk_status s = check(ctx, op, kind, beta2, tensors, count);
    if (s != OPTK_OK) return s;

    /* As the machinery sees them: tensors that average (block > 1) are left for the block
     * means, the others first in the list. */
    optk_param_tensor *as_params = malloc((size_t)count * sizeof *as_params);
    if (!as_params) return optk_fail(ctx, OPTK_ERR_OUT_OF_MEMORY, "%s: out of host memory", op);
    const bool with_z = tensors[0].z != NULL;
    int elementwise = 0;
    for (int t = 0; t < count; ++t) {
        const optk_curvature_tensor *x = &tensors[t];
        optk_param_tensor p = {x->numel, x->curvature, x->hz, {(float *)x->z}, NULL};
        as_params[t] = p;
        if (x->block <= 1) ++elementwise;
    }
    const optk_tensor_checks checks = {with_z ? 1 : 0,        true,      true, OPTK_F32, OPTK_F32,
                                       OPTK_MASTER_FORBIDDEN, role_names};
    s = optk_check_param_tensors(ctx, op, as_params, count, &checks);

    if (s == OPTK_OK && elementwise > 0) {
        int at = 0;
        for (int t = 0; t < count; ++t)
            if (tensors[t].block <= 1) as_params[at++] = as_params[t]; /* stable: at <= t */
        optk_element_launch l = optk_element_launch_for(rule_of(kind, with_z), as_params, at);
        l.nstate = with_z ? 1 : 0;
        l.nwritten = 0;
        /* Every curvature rule takes the same scalars: setting them once through the union's
         * storage sets them for whichever member the backend reads. */
        const optk_curvature_consts k = {(float)beta2, (float)(1.0 - beta2)};
        memcpy(&l.k, &k, sizeof k);
        s = ctx->ops->element_apply(ctx, &l);
    }
    free(as_params);
    for (int t = 0; t < count && s == OPTK_OK; ++t) {
        const optk_curvature_tensor *x = &tensors[t];
        if (x->block > 1) {
            s = ctx->ops->abs_block_mean(ctx, x->z, x->hz, x->curvature, x->numel, x->block);
        }
    }
    return s;
}

int64_t optk_adahessian_block_size(const int64_t *shape, int ndim) {
    if (!shape || ndim < 0) return 0;
    for (int d = 0; d < ndim; ++d)
        if (shape[d] < 1) return 0;
    return ndim == 4 ? shape[2] * shape[3] : 1;
}

optk_status optk_hessian_diag_exact(optk_context *ctx, const float *h, int64_t n, float *diag) {
    static const char op[] = "hessian_diag_exact";
    if (!ctx) return OPTK_ERR_INVALID_ARGUMENT;
    if (n < 1 || n > INT_MAX) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: n must be in [1, 2^31 - 1], got %lld",
                         op, (long long)n);
    }
    if (!h || !diag) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: %s is NULL", op, h ? "diag" : "h");
    }
    if (((uintptr_t)h | (uintptr_t)diag) & 3u) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: h and diag must be 4-byte aligned",
                         op);
    }
    const uintptr_t hb = (uintptr_t)h, db = (uintptr_t)diag;
    const uintptr_t h_bytes = (uintptr_t)n * (uintptr_t)n * 4u, d_bytes = (uintptr_t)n * 4u;
    if (db < hb + h_bytes && hb < db + d_bytes) {
        return optk_fail(ctx, OPTK_ERR_INVALID_ARGUMENT, "%s: diag overlaps h", op);
    }
    return ctx->ops->strided_copy(ctx, diag, h, n, n + 1);
}
