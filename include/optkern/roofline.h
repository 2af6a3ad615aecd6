/* optkern/roofline.h — the machine limits `optkern bench` measures its ops against, as ops
 * of their own: copy bandwidth is optk_mem_copy (optkern/memory.h); this header adds the
 * throughput of the exponential, the limit of exp-bound ops such as the Sinkhorn solvers.
 */
#ifndef OPTKERN_ROOFLINE_H
#define OPTKERN_ROOFLINE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Replaces every element of x (n >= 1 floats in backend memory, 4-byte aligned) by the end
 *  of `rounds` (>= 1) chained evaluations x <- exp(-|x|) of the library's own exp — the one
 *  every kernel calls (src/common/math.h), so the same bits on every backend. The chain keeps
 *  each evaluation from being skipped and the values in (0, 1]; its time, n * rounds
 *  exponentials, is the exp throughput that `optkern bench` reports the Sinkhorn solvers
 *  against. A NaN stays a NaN; -|±Inf| = -Inf gives 0, then the chain goes on
 *  from 0. On the CPU split over the cores, vectorised. */
optk_status optk_exp_chain(optk_context *ctx, float *x, int64_t n, int rounds);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_ROOFLINE_H */
