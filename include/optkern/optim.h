/* optkern/optim.h — fused multi-tensor optimizer steps.
 *
 * One call updates a whole list of parameter tensors of any sizes (a real model has
 * hundreds) in one or a few kernel launches. Parameters, gradients and state live in
 * backend memory and are updated in place. The exact per-element formulas are those of
 * ALGORITHMS.md (PyTorch's for-loop implementation for AdamW); the CPU and CUDA backends
 * give the same bits.
 *
 * Non-finite values: a NaN or Inf in a gradient propagates into that element's state and
 * parameter (as in PyTorch) and touches no other element.
 */
#ifndef OPTKERN_OPTIM_H
#define OPTKERN_OPTIM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most state buffers any optimizer rule uses per parameter tensor. */
#define OPTK_MAX_STATE 4

/** One parameter tensor, its gradient and its optimizer state (all fp32, all numel
 *  elements, 4-byte aligned, no two buffers overlapping). */
typedef struct optk_param_tensor {
    int64_t numel;                /* elements, >= 1 */
    float *param;                 /* updated in place */
    const float *grad;            /* read only */
    float *state[OPTK_MAX_STATE]; /* the rule's state buffers, in the rule's order */
} optk_param_tensor;

/** AdamW hyperparameters (PyTorch's torch.optim.AdamW). Doubles, as in Python: the
 *  per-step scalars are derived in double and rounded to float once per step. */
typedef struct optk_adamw_options {
    double lr;           /* learning rate, finite, >= 0 */
    double beta1;        /* first-moment decay, in [0, 1) */
    double beta2;        /* second-moment decay, in [0, 1) */
    double eps;          /* added to the denominator, finite, >= 0 */
    double weight_decay; /* decoupled: p *= 1 - lr * weight_decay; finite, >= 0 */
    bool amsgrad;        /* use the running maximum of the second moment */
    bool maximize;       /* ascend instead of descend */
} optk_adamw_options;

/** PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2. */
optk_adamw_options optk_adamw_default_options(void);

/** State buffers AdamW needs per tensor: 2 (m, v), or 3 (m, v, vmax) with amsgrad.
 *  All start at zero. Returns -1 for a NULL opt. */
int optk_adamw_state_count(const optk_adamw_options *opt);

/** One AdamW step over count tensors. step is the step number t after incrementing
 *  (1 on the first call); the caller keeps it. tensors[i].state holds m, v and, with
 *  amsgrad, vmax; other state slots are ignored.
 *  Errors: OPTK_ERR_INVALID_ARGUMENT for a NULL pointer, count < 1, step < 1, numel < 1,
 *  a NaN or out-of-range hyperparameter, a misaligned or overlapping buffer. */
optk_status optk_adamw_step(optk_context *ctx, const optk_adamw_options *opt, int64_t step,
                            const optk_param_tensor *tensors, int count);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_OPTIM_H */
