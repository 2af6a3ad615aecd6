/* optim_check.h — argument checks every optimizer step shares. */
#ifndef OPTK_OPTIM_CHECK_H
#define OPTK_OPTIM_CHECK_H

#include "internal.h"

/* Checks a hyperparameter: finite and in [lo, hi] or [lo, hi) (hi_open). */
optk_status optk_check_hparam(optk_context *ctx, const char *op, const char *name, double value,
                              double lo, double hi, bool hi_open);

/* Checks a tensor list: count >= 1, every numel >= 1, param, grad (when needs_grad) and
 * state[0..nstate) given and 4-byte aligned, and no two of all these buffers overlapping. */
optk_status optk_check_param_tensors(optk_context *ctx, const char *op,
                                     const optk_param_tensor *tensors, int count, int nstate,
                                     bool needs_grad);

/* Validates every hyperparameter of a rule's options. */
optk_status optk_optim_check_options(optk_context *ctx, const char *op,
                                     const optk_optim_options *o);

/* State buffers the step writes back (the rest it only reads). */
int optk_optim_written_state_count(const optk_optim_options *opt);

/* Schedule-Free's scalars carried from step to step (lr_max starts at -1, as upstream). */
typedef struct optk_schedule_free_state {
    double lr_max;
    double weight_sum;
} optk_schedule_free_state;

/* Fills launch (element rule, state layout, the step's float scalars) for step `step` (t,
 * from 1) of options o; for Schedule-Free, from the scalars sf before the step, writing
 * those after it to sf_next. Fails if a derived scalar overflows float. */
optk_status optk_optim_prepare(optk_context *ctx, const char *op, const optk_optim_options *o,
                               int64_t step, const optk_schedule_free_state *sf,
                               optk_schedule_free_state *sf_next, optk_element_launch *launch);

#endif /* OPTK_OPTIM_CHECK_H */
