/* optkern/random.h — counter-based random numbers (Philox4x32-10).
 *
 * The stream (seed, subsequence) is the one cuRAND's device API gives after
 * curand_init(seed, subsequence, 0, &state): element k is word k % 4 of
 * Philox4x32-10(counter = subsequence * 2^64 + k / 4, key = seed). Every value is a pure
 * function of (seed, subsequence, k), identical on every backend.
 */
#ifndef OPTKERN_RANDOM_H
#define OPTKERN_RANDOM_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Writes n (>= 1) raw 32-bit outputs of the stream (seed, subsequence), starting at
 *  element offset, into out (backend memory): out[i] = element offset + i.
 *  On CUDA through cuRAND's device API; on the CPU through the same algorithm. */
optk_status optk_random_fill_u32(optk_context *ctx, uint64_t seed, uint64_t subsequence,
                                 uint64_t offset, uint32_t *out, int64_t n);

#ifdef __cplusplus
}
#endif

#endif /* OPTKERN_RANDOM_H */
