/* es.h — where EGGROLL's noise comes from, shared by both backends. Every perturbation is a
 * pure function of (seed, generation, layer, pair): the Philox stream (seed, subsequence
 * generation 2^40 + layer 2^24 + pair); element e of it is optk_normal_from_word(word e).
 * Low-rank factors of a pair: A (m x r, row-major) at elements 0 .. m r - 1, then B (n x r)
 * at m r .. (m + n) r - 1. Full-rank noise of a pair (m x n, or a bias of m): elements
 * 0 .. size - 1. Member i uses pair i / 2 with sign s_i = +1 (even i) or -1 (odd i).
 */
#ifndef OPTK_COMMON_ES_H
#define OPTK_COMMON_ES_H

#include "gaussian.h"

#define OPTK_ES_MAX_GENERATION ((uint64_t)1 << 24)
#define OPTK_ES_MAX_LAYER (1 << 16)
#define OPTK_ES_MAX_PAIR ((int64_t)1 << 24)

OPTK_HD uint64_t optk_es_subsequence(uint64_t generation, uint32_t layer, int64_t pair) {
    return (generation << 40) | ((uint64_t)layer << 24) | (uint64_t)pair;
}

/* The sign of member i. */
OPTK_HD float optk_es_sign(int64_t member) {
    return (member & 1) ? -1.0f : 1.0f;
}

#endif /* OPTK_COMMON_ES_H */
