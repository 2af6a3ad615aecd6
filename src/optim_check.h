/* optim_check.h — argument checks every optimizer step shares. */
#ifndef OPTK_OPTIM_CHECK_H
#define OPTK_OPTIM_CHECK_H

#include "internal.h"
#include "common/step_consts.h"

/* Checks a hyperparameter: finite and in [lo, hi] or [lo, hi) (hi_open). */
optk_status optk_check_hparam(optk_context *ctx, const char *op, const char *name, double value,
                              double lo, double hi, bool hi_open);

/* What a call needs of each tensor. */
typedef enum optk_master_rule {
    OPTK_MASTER_FORBIDDEN,
    OPTK_MASTER_REQUIRED,
    OPTK_MASTER_IGNORED
} optk_master_rule;

typedef struct optk_tensor_checks {
    int nstate;              /* state[0..nstate) must be given */
    bool needs_param;        /* param must be given */
    bool needs_grad;         /* grad must be given */
    optk_dtype param_dtype;  /* sizes and alignment of param */
    optk_dtype grad_dtype;   /* sizes and alignment of grad */
    optk_master_rule master; /* the fp32 master copy: needed (bf16/fp16 params), or not allowed */
    /* What messages call param, grad, master, state[0..3] (NULL: those words), for calls
     * whose buffers play other parts (the curvature update's curvature, hz, z). */
    const char *const *role_names;
} optk_tensor_checks;

/* fp32 everything, no master copy: what fp32-only calls need. */
optk_tensor_checks optk_tensor_checks_f32(int nstate, bool needs_grad);

/* What a step of these options needs (needs_grad: whether the call reads gradients). */
optk_tensor_checks optk_tensor_checks_for(const optk_optim_options *o, bool needs_grad);

/* Checks a tensor list: count >= 1, every numel >= 1, the buffers `checks` asks for given and
 * aligned to their element size, master absent when not asked for, and no two of all these
 * buffers overlapping. */
optk_status optk_check_param_tensors(optk_context *ctx, const char *op,
                                     const optk_param_tensor *tensors, int count,
                                     const optk_tensor_checks *checks);

/* Validates every hyperparameter of a rule's options. */
optk_status optk_optim_check_options(optk_context *ctx, const char *op,
                                     const optk_optim_options *o);

/* State buffers the step writes back (the rest it only reads). */
int optk_optim_written_state_count(const optk_optim_options *opt);

/* Fills launch (element rule, state layout, the step's float scalars) for step `step` (t,
 * from 1) of options o; for Schedule-Free, from the scalars sf before the step, writing
 * those after it to sf_next. Fails if a derived scalar overflows float. */
optk_status optk_optim_prepare(optk_context *ctx, const char *op, const optk_optim_options *o,
                               int64_t step, const optk_schedule_free_state *sf,
                               optk_schedule_free_state *sf_next, optk_element_launch *launch);

#endif /* OPTK_OPTIM_CHECK_H */
