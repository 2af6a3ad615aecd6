/* optim_check.h — argument checks every optimizer step shares. */
#ifndef OPTK_OPTIM_CHECK_H
#define OPTK_OPTIM_CHECK_H

#include "internal.h"

/* Checks a hyperparameter: finite and in [lo, hi] or [lo, hi) (hi_open). */
optk_status optk_check_hparam(optk_context *ctx, const char *op, const char *name, double value,
                              double lo, double hi, bool hi_open);

/* Checks a tensor list: count >= 1, every numel >= 1, param/grad/state[0..nstate) given
 * and 4-byte aligned, and no two of all these buffers overlapping. */
optk_status optk_check_param_tensors(optk_context *ctx, const char *op,
                                     const optk_param_tensor *tensors, int count, int nstate);

#endif /* OPTK_OPTIM_CHECK_H */
